//! Provenance: is this binary the build its request asked for? Go writes its build
//! information (modules, versions, replaces, GOOS/GOARCH, -race) into every executable;
//! this reads it (`exe.rs` finds it in ELF, PE or Mach-O, `buildinfo.rs` decodes it,
//! `modinfo.rs` parses the module list) and compares it with the request (`verify.rs`).
//!
//! Every binary is checked once, when it enters the cache or is served without it: a
//! Velox or local build, a fill from the remote tier. Build information is not a
//! signature: whoever can write the binary can forge it. It stops mix-ups, fields a
//! build server dropped, and stale or misrouted builds.

mod buildinfo;
mod exe;
mod modinfo;
mod recorded;
mod verify;

use std::fs::File;
use std::os::unix::fs::FileExt;

pub use modinfo::{ModInfo, Module, Replacement};
pub use recorded::{check_entry, EntryCheck};
pub use verify::{verify, LinkedPlugin, Provenance};

use crate::error::{Error, Result};
use crate::request::BuildRequest;

/// Positional reads: the reader never moves a shared file's offset and reads only the
/// headers and the build information, never the whole binary.
pub trait ReadAt {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for &[u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// Why no build information could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not an ELF, PE or Mach-O executable")]
    NotExecutable,
    #[error("no Go build information in the executable")]
    NoBuildInfo,
    #[error("Go build information older than Go 1.18 (pointer format): not verifiable")]
    PreGo118,
    #[error("malformed executable: {0}")]
    Malformed(String),
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
}

/// A binary's build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub go_version: String,
    pub modinfo: ModInfo,
}

/// Reads the build information of the executable behind `r`.
pub fn read(r: &dyn ReadAt) -> std::result::Result<BuildInfo, ReadError> {
    let range = exe::data_range(r)?;
    let raw = buildinfo::read_raw(r, range)?;
    Ok(BuildInfo {
        modinfo: ModInfo::parse(&raw.modinfo)?,
        go_version: raw.go_version,
    })
}

/// [`read`] of an executable in memory (the fuzz targets).
pub fn read_bytes(data: &[u8]) -> std::result::Result<BuildInfo, ReadError> {
    read(&data)
}

/// Reads `file`'s build information and verifies it against `req`; any failure, a
/// file without build information included, is [`Error::BuildMismatch`].
pub fn check(file: &File, req: &BuildRequest) -> Result<Provenance> {
    let mismatch = |message: String| Error::BuildMismatch { message };
    let info = match read(file) {
        Ok(info) => info,
        Err(ReadError::Io(e)) => return Err(Error::io("reading the build information", e)),
        Err(e) => {
            return Err(mismatch(format!(
                "the binary is not a verifiable Go build: {e}"
            )))
        }
    };
    verify(req, &info.go_version, &info.modinfo).map_err(mismatch)
}
