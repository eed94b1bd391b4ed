//! The Go 1.18+ build-information blob: at a 16-byte aligned offset of the data range,
//! the 14-byte magic, a pointer-size byte, a flags byte, padding to 32 bytes, then two
//! strings each prefixed by its uvarint length: the Go version and the module info.
//! Older binaries (before 1.18) hold pointers instead of inline strings: not read.

use super::exe::{read_some, Range};
use super::{ReadAt, ReadError};

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const ALIGN: u64 = 16;
const HEADER: u64 = 32;
/// Flag bit: the strings follow the header (Go 1.18+) rather than being pointed to.
const FLAG_INLINE: u8 = 0x2;

/// The magic lies at the start of the data range in every Go binary we know of; the
/// search goes on this far before calling the file foreign.
const MAX_SEARCH: u64 = 8 << 20;
const CHUNK: u64 = 64 << 10;
/// `go1.26.8`, or a development version with a date and a hash: short.
const MAX_VERSION: u64 = 1 << 10;
/// A RoadRunner binary's module list is about 20 KiB; this leaves room for big ones.
const MAX_MODINFO: u64 = 1 << 20;
/// Go wraps the module info in 16-byte sentinels.
const SENTINEL: usize = 16;

/// What the blob says, its strings as read (the module info without its sentinels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBuildInfo {
    pub go_version: String,
    pub modinfo: String,
}

/// Finds and decodes the blob inside `range`.
pub fn read_raw(r: &dyn ReadAt, range: Range) -> Result<RawBuildInfo, ReadError> {
    let end = range.offset.saturating_add(range.len);
    let at = find_magic(r, range.offset, end)?;
    let mut header = [0u8; HEADER as usize];
    if end - at < HEADER || read_some(r, at, &mut header)? < header.len() {
        return Err(ReadError::Malformed(
            "build information header is cut short".into(),
        ));
    }
    if header[15] & FLAG_INLINE == 0 {
        return Err(ReadError::PreGo118);
    }
    let start = at + HEADER;
    let want = (end - start).min(2 * 10 + MAX_VERSION + MAX_MODINFO);
    let mut strings = vec![0u8; want as usize];
    let n = read_some(r, start, &mut strings)?;
    strings.truncate(n);
    let (version, rest) = string(&strings, MAX_VERSION, "Go version")?;
    let (modinfo, _) = string(rest, MAX_MODINFO, "module information")?;
    if version.is_empty() {
        return Err(ReadError::NoBuildInfo);
    }
    Ok(RawBuildInfo {
        go_version: text(version, "Go version")?,
        modinfo: text(strip_sentinels(modinfo), "module information")?,
    })
}

fn find_magic(r: &dyn ReadAt, start: u64, end: u64) -> Result<u64, ReadError> {
    let mut at = start
        .checked_next_multiple_of(ALIGN)
        .ok_or(ReadError::NoBuildInfo)?;
    let stop = end.min(start.saturating_add(MAX_SEARCH));
    let mut buf = vec![0u8; CHUNK as usize];
    while at < stop {
        let want = (stop - at).min(CHUNK) as usize;
        let n = read_some(r, at, &mut buf[..want])?;
        // Aligned chunks: the magic never straddles two.
        for i in (0..n).step_by(ALIGN as usize) {
            if buf[i..n].starts_with(MAGIC) {
                return Ok(at + i as u64);
            }
        }
        if n < want {
            break;
        }
        at += n as u64;
    }
    Err(ReadError::NoBuildInfo)
}

/// A uvarint-prefixed string at the start of `b`, and what follows it.
fn string<'a>(b: &'a [u8], max: u64, what: &str) -> Result<(&'a [u8], &'a [u8]), ReadError> {
    let (len, used) =
        uvarint(b).ok_or_else(|| ReadError::Malformed(format!("{what}: bad length")))?;
    if len > max {
        return Err(ReadError::Malformed(format!(
            "{what}: {len} bytes, more than the {max} read"
        )));
    }
    let rest = &b[used..];
    if (rest.len() as u64) < len {
        return Err(ReadError::Malformed(format!(
            "{what}: runs past its section"
        )));
    }
    Ok(rest.split_at(len as usize))
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return None;
        }
        value |= bits << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Go frames the module info with sentinels and drops the frame only when it looks
/// right (at least 33 bytes, a newline just before the end sentinel); otherwise the
/// binary has no module info at all.
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() > 2 * SENTINEL && m[m.len() - SENTINEL - 1] == b'\n' {
        &m[SENTINEL..m.len() - SENTINEL]
    } else {
        &[]
    }
}

fn text(b: &[u8], what: &str) -> Result<String, ReadError> {
    String::from_utf8(b.to_vec()).map_err(|_| ReadError::Malformed(format!("{what} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_reads_go_encoding() {
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0xff; 11]), None);
    }

    #[test]
    fn sentinels_are_stripped_only_around_a_final_newline() {
        let framed = [&[1u8; 16][..], b"path\tx\n", &[2u8; 16][..]].concat();
        assert_eq!(strip_sentinels(&framed), b"path\tx\n");
        let unframed = [&[1u8; 16][..], b"path\tx!", &[2u8; 16][..]].concat();
        assert_eq!(strip_sentinels(&unframed), b"");
    }
}
