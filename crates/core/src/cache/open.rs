//! The one way a file in the cache directory is opened: binaries, metadata, leases, the
//! usage file and the lock files all come through here.
//!
//! The directory has other writers (other processes, the seed plugin, an operator, an
//! attacker with write access to it), so a name there may be a symbolic link, a FIFO, a
//! directory, a device or a huge file. Opening with `O_NOFOLLOW | O_NONBLOCK` never
//! follows the link and never waits for a FIFO's writer; the descriptor is then checked
//! to be a regular file (so a name swapped meanwhile cannot slip through), and small
//! files are read up to a cap. Anything else is foreign: logged, counted in
//! `foreign_files`, and never believed.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Leases, the usage file: a few hundred bytes when written by us.
pub(crate) const SMALL_MAX: u64 = 64 * 1024;
/// `{key}.json`: the request's plugin list, pretty-printed, is the bulk of it.
pub(crate) const METADATA_MAX: u64 = 8 * crate::request::MAX_BODY_BYTES as u64;

/// Foreign files met in cache directories by this process (every engine, and the
/// engine-less `cache::state` query, count here: a hostile name is a property of the
/// directory, not of one engine).
static FOREIGN_FILES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn foreign_files() -> u64 {
    FOREIGN_FILES.load(Ordering::Relaxed)
}

/// Records that `path` is not what the cache writes there.
pub(crate) fn foreign(path: &Path, what: &str) {
    FOREIGN_FILES.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(file = %path.display(), what, "foreign file in the cache directory: not followed, not believed");
}

/// `opts` with the flags every cache file is opened with, then the regular-file check on
/// the descriptor.
pub(crate) fn open_with(opts: &mut OpenOptions, path: &Path) -> io::Result<(File, Metadata)> {
    let file = opts
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular("not a regular file"));
    }
    Ok((file, meta))
}

/// Opens for reading: a symbolic link is `ELOOP`, anything not a regular file is
/// `InvalidInput` (see [`is_not_regular`]).
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    open_with(OpenOptions::new().read(true), path)
}

/// Whether an open error means "this name is a link or not a regular file" (or too large
/// to be ours), as opposed to missing or unreadable.
pub(crate) fn is_not_regular(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP) || e.kind() == io::ErrorKind::InvalidInput
}

fn not_regular(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_owned())
}

/// A small file's bytes: `Ok(None)` when it does not exist; an error that
/// [`is_not_regular`] when it is foreign (counted, logged) or larger than `cap`.
pub(crate) fn read_small(path: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let (file, meta) = match open_regular(path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if is_not_regular(&e) => {
            foreign(path, "a symbolic link or not a regular file");
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if meta.len() > cap {
        foreign(path, "larger than the cache ever writes it");
        return Err(not_regular("larger than the cache ever writes it"));
    }
    // The file may grow after the stat: the read stops at the cap either way.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        foreign(path, "grew past the cap while read");
        return Err(not_regular("larger than the cache ever writes it"));
    }
    Ok(Some(bytes))
}

/// A cached binary, if `path` is still a regular file of `size` bytes; `Ok(None)` when it
/// vanished, changed size, or is foreign. Lookup and the `state` query both decide
/// "cached" with this, so they cannot disagree.
pub(crate) fn binary(path: &Path, size: u64) -> io::Result<Option<File>> {
    match open_regular(path) {
        Ok((file, meta)) => Ok((meta.len() == size).then_some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if is_not_regular(&e) => {
            foreign(path, "a cached binary that is a link or not a regular file");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_reads_refuse_links_fifos_and_oversized_files_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"{}").unwrap();
        assert_eq!(read_small(&real, 2).unwrap().unwrap(), b"{}");
        assert!(is_not_regular(&read_small(&real, 1).unwrap_err()));

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(is_not_regular(&read_small(&link, 2).unwrap_err()));

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(is_not_regular(&read_small(&fifo, 2).unwrap_err()));

        assert!(read_small(&dir.path().join("none"), 2).unwrap().is_none());
        assert!(is_not_regular(&read_small(dir.path(), 2).unwrap_err()));
    }
}
