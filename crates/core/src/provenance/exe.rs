//! Where an executable keeps its Go build information: the file range of the section (or
//! segment) that Go's own reader searches, found from the headers alone with positional
//! reads. ELF, PE and Mach-O, 32 and 64 bit, either byte order; nothing else.

use super::{ReadAt, ReadError};

/// A range of the file, in file offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub offset: u64,
    pub len: u64,
}

/// The file's section and program header tables are read whole; real executables have a
/// few dozen entries, so anything beyond these is a hostile file, not a big one.
const MAX_TABLE: u64 = 1 << 20;
/// Section names are short; the name table of a Go binary is well under 1 KiB.
const MAX_NAMES: u64 = 64 << 10;

/// The range to search for the build-info magic in, per executable format.
pub fn data_range(r: &dyn ReadAt) -> Result<Range, ReadError> {
    let mut ident = [0u8; 64];
    let n = read_some(r, 0, &mut ident)?;
    let ident = &ident[..n];
    if ident.starts_with(b"\x7fELF") {
        elf(r, ident)
    } else if ident.starts_with(b"MZ") {
        pe(r, ident)
    } else if ident.len() >= 4 && macho_kind(ident).is_some() {
        macho(r, ident)
    } else {
        Err(ReadError::NotExecutable)
    }
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
pub fn read_some(r: &dyn ReadAt, offset: u64, buf: &mut [u8]) -> Result<usize, ReadError> {
    let mut done = 0;
    while done < buf.len() {
        let n = r
            .read_at(&mut buf[done..], offset + done as u64)
            .map_err(ReadError::Io)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Exactly `len` bytes at `offset` (bounded by the caller), or a malformed-file error.
fn read_exact(r: &dyn ReadAt, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, ReadError> {
    let mut buf = vec![0u8; len as usize];
    if read_some(r, offset, &mut buf)? != buf.len() {
        return Err(ReadError::Malformed(format!(
            "{what} runs past the end of the file"
        )));
    }
    Ok(buf)
}

/// Little- or big-endian field access into a header already read.
#[derive(Clone, Copy)]
struct Fields<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn u16(&self, at: usize) -> u64 {
        self.get::<2>(at)
            .map_or(0, |b| {
                if self.big {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                }
            })
            .into()
    }

    fn u32(&self, at: usize) -> u64 {
        self.get::<4>(at)
            .map_or(0, |b| {
                if self.big {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            })
            .into()
    }

    fn u64(&self, at: usize) -> u64 {
        self.get::<8>(at).map_or(0, |b| {
            if self.big {
                u64::from_be_bytes(b)
            } else {
                u64::from_le_bytes(b)
            }
        })
    }

    fn get<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }
}

fn table_len(count: u64, entry: u64, what: &str) -> Result<u64, ReadError> {
    count
        .checked_mul(entry)
        .filter(|&n| n <= MAX_TABLE)
        .ok_or_else(|| ReadError::Malformed(format!("{what} table too large")))
}

fn elf(r: &dyn ReadAt, ident: &[u8]) -> Result<Range, ReadError> {
    let wide = match ident.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(ReadError::Malformed("unknown ELF class".into())),
    };
    let big = match ident.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(ReadError::Malformed("unknown ELF byte order".into())),
    };
    let h = Fields { bytes: ident, big };
    let (phoff, shoff, at) = if wide {
        (h.u64(0x20), h.u64(0x28), 0x36)
    } else {
        (h.u32(0x1c), h.u32(0x20), 0x2a)
    };
    let (phentsize, phnum) = (h.u16(at), h.u16(at + 2));
    let (shentsize, shnum, shstrndx) = (h.u16(at + 4), h.u16(at + 6), h.u16(at + 8));

    // Go's reader looks for the section by name first; a stripped section table leaves
    // the first writable, non-executable PT_LOAD segment, where Go puts it first.
    let (sh_min, ph_min) = if wide { (64, 56) } else { (40, 32) };
    if shnum > 0 && shentsize >= sh_min && shstrndx < shnum {
        let table = read_exact(
            r,
            shoff,
            table_len(shnum, shentsize, "section")?,
            "section table",
        )?;
        let section = |i: u64| {
            let start = (i * shentsize) as usize;
            let f = Fields {
                bytes: &table[start..start + shentsize as usize],
                big,
            };
            let (kind, offset, size) = if wide {
                (f.u32(4), f.u64(24), f.u64(32))
            } else {
                (f.u32(4), f.u32(16), f.u32(20))
            };
            (f.u32(0), kind, Range { offset, len: size })
        };
        let (_, _, names) = section(shstrndx);
        let names = read_exact(r, names.offset, names.len.min(MAX_NAMES), "section names")?;
        const SHT_NOBITS: u64 = 8;
        for i in 0..shnum {
            let (name, kind, range) = section(i);
            if kind != SHT_NOBITS && name_at(&names, name) == Some(b".go.buildinfo") {
                return Ok(range);
            }
        }
    }
    if phnum > 0 && phentsize >= ph_min {
        let table = read_exact(
            r,
            phoff,
            table_len(phnum, phentsize, "program header")?,
            "program headers",
        )?;
        const PT_LOAD: u64 = 1;
        const PF_X: u64 = 1;
        const PF_W: u64 = 2;
        for i in 0..phnum {
            let start = (i * phentsize) as usize;
            let f = Fields {
                bytes: &table[start..start + phentsize as usize],
                big,
            };
            let (kind, flags, offset, filesz) = if wide {
                (f.u32(0), f.u32(4), f.u64(8), f.u64(32))
            } else {
                (f.u32(0), f.u32(24), f.u32(4), f.u32(16))
            };
            if kind == PT_LOAD && flags & (PF_X | PF_W) == PF_W {
                return Ok(Range {
                    offset,
                    len: filesz,
                });
            }
        }
    }
    Err(ReadError::NoBuildInfo)
}

/// The NUL-terminated name at `at` in a name table.
fn name_at(names: &[u8], at: u64) -> Option<&[u8]> {
    let rest = names.get(usize::try_from(at).ok()?..)?;
    Some(&rest[..rest.iter().position(|&b| b == 0)?])
}

fn pe(r: &dyn ReadAt, dos: &[u8]) -> Result<Range, ReadError> {
    let lfanew = Fields {
        bytes: dos,
        big: false,
    }
    .u32(0x3c);
    let coff = read_exact(r, lfanew, 24, "PE header")?;
    if &coff[..4] != b"PE\0\0" {
        return Err(ReadError::NotExecutable);
    }
    let f = Fields {
        bytes: &coff[4..],
        big: false,
    };
    let (count, optional) = (f.u16(2), f.u16(16));
    let table = read_exact(
        r,
        lfanew + 24 + optional,
        table_len(count, 40, "PE section")?,
        "PE sections",
    )?;
    // Go's reader takes the first initialised, readable, writable data section (`.data`,
    // where the linker puts the build information first), whatever its alignment bits.
    const DATA_RW: u64 = 0x0000_0040 | 0x4000_0000 | 0x8000_0000;
    const ALIGN_32: u64 = 0x0060_0000;
    for entry in table.chunks_exact(40) {
        let s = Fields {
            bytes: entry,
            big: false,
        };
        let (vsize, vaddr, raw_size, raw_at, flags) =
            (s.u32(8), s.u32(12), s.u32(16), s.u32(20), s.u32(36));
        if vaddr != 0 && raw_size != 0 && flags & !ALIGN_32 == DATA_RW {
            // Bytes past the raw data are zeros in memory, never in the file.
            let len = if vsize == 0 {
                raw_size
            } else {
                raw_size.min(vsize)
            };
            return Ok(Range {
                offset: raw_at,
                len,
            });
        }
    }
    Err(ReadError::NoBuildInfo)
}

/// `(64-bit, big-endian)` for a Mach-O magic number.
fn macho_kind(ident: &[u8]) -> Option<(bool, bool)> {
    match ident.get(..4)? {
        [0xce, 0xfa, 0xed, 0xfe] => Some((false, false)),
        [0xcf, 0xfa, 0xed, 0xfe] => Some((true, false)),
        [0xfe, 0xed, 0xfa, 0xce] => Some((false, true)),
        [0xfe, 0xed, 0xfa, 0xcf] => Some((true, true)),
        _ => None,
    }
}

fn macho(r: &dyn ReadAt, ident: &[u8]) -> Result<Range, ReadError> {
    let (wide, big) = macho_kind(ident).ok_or(ReadError::NotExecutable)?;
    let h = Fields { bytes: ident, big };
    let (ncmds, sizeofcmds) = (h.u32(16), h.u32(20));
    if sizeofcmds > MAX_TABLE {
        return Err(ReadError::Malformed(
            "Mach-O load commands too large".into(),
        ));
    }
    let header = if wide { 32 } else { 28 };
    let cmds = read_exact(r, header, sizeofcmds, "Mach-O load commands")?;
    const LC_SEGMENT: u64 = 0x1;
    const LC_SEGMENT_64: u64 = 0x19;
    const RW: u64 = 3;
    let (seg_len, sect_len) = if wide { (72, 80) } else { (56, 68) };
    let mut fallback = None;
    let mut data_section = None;
    let mut at = 0usize;
    for _ in 0..ncmds {
        let c = Fields {
            bytes: cmds.get(at..).unwrap_or(&[]),
            big,
        };
        let (cmd, size) = (c.u32(0), c.u32(4) as usize);
        if size < 8 || at + size > cmds.len() {
            return Err(ReadError::Malformed(
                "Mach-O load command out of bounds".into(),
            ));
        }
        let body = Fields {
            bytes: &cmds[at..at + size],
            big,
        };
        if (cmd == LC_SEGMENT_64 && wide) || (cmd == LC_SEGMENT && !wide) {
            let segname = &body.bytes.get(8..24).unwrap_or(&[]);
            let (vmaddr, fileoff, filesize, maxprot, initprot, nsects) = if wide {
                (
                    body.u64(24),
                    body.u64(40),
                    body.u64(48),
                    body.u32(56),
                    body.u32(60),
                    body.u32(64),
                )
            } else {
                (
                    body.u32(24),
                    body.u32(32),
                    body.u32(36),
                    body.u32(40),
                    body.u32(44),
                    body.u32(48),
                )
            };
            for i in 0..nsects as usize {
                let start = seg_len + i * sect_len;
                let Some(sect) = body.bytes.get(start..start + sect_len) else {
                    return Err(ReadError::Malformed("Mach-O section out of bounds".into()));
                };
                let s = Fields { bytes: sect, big };
                let (size, offset) = if wide {
                    (s.u64(40), s.u32(48))
                } else {
                    (s.u32(36), s.u32(40))
                };
                let range = Range { offset, len: size };
                match (fixed_name(&sect[..16]), fixed_name(&sect[16..32])) {
                    (b"__go_buildinfo", _) => return Ok(range),
                    (b"__data", b"__DATA") if data_section.is_none() => data_section = Some(range),
                    _ => {}
                }
            }
            if fallback.is_none()
                && vmaddr != 0
                && filesize != 0
                && maxprot == RW
                && initprot == RW
                && fixed_name(segname) != b"__PAGEZERO"
            {
                fallback = Some(Range {
                    offset: fileoff,
                    len: filesize,
                });
            }
        }
        at += size;
    }
    data_section.or(fallback).ok_or(ReadError::NoBuildInfo)
}

/// A Mach-O fixed 16-byte name, without its NUL padding.
fn fixed_name(raw: &[u8]) -> &[u8] {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    &raw[..end]
}
