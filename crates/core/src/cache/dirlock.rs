//! Coordination between processes sharing one cache directory.
//!
//! A commit (temp file -> `{key}.bin` -> `{key}.json`) holds a shared lock on
//! `.velox.lock`; a sweep that deletes temp files and orphans needs the exclusive lock.
//! So a sweep never mistakes another process's commit in progress for a leftover of a
//! crash, and commits never wait for each other.
//!
//! Evictions and commits also hold `.velox.store.lock` exclusively: the step that looks
//! at the whole directory, deletes victims and commits the new entry is one at a time
//! across every process, so the limits hold for the directory (`shared`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::layout::{LOCK_FILE, STORE_LOCK_FILE};

/// Held until dropped (closing the file releases the lock).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Blocks until no sweep runs.
    pub(crate) fn shared(dir: &Path) -> io::Result<DirLock> {
        let file = open(dir, LOCK_FILE)?;
        flock(&file, libc::LOCK_SH)?;
        Ok(DirLock { _file: file })
    }

    /// `Ok(None)` when a commit is in progress somewhere.
    pub(crate) fn try_exclusive(dir: &Path) -> io::Result<Option<DirLock>> {
        let file = open(dir, LOCK_FILE)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(DirLock { _file: file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Blocks until no other store or cleanup, in any process, is evicting or committing.
/// Held for milliseconds (a directory listing, a few renames), never during a copy.
pub(crate) struct StoreLock {
    _file: File,
    /// Threads of this process also exclude each other without relying on flock between
    /// two descriptions of one process: NFS clients emulate flock with POSIX locks, which
    /// belong to the process. (One mutex for every directory: holds are short.)
    _in_process: parking_lot::MutexGuard<'static, ()>,
}

static IN_PROCESS: parking_lot::Mutex<()> = parking_lot::const_mutex(());

impl StoreLock {
    pub(crate) fn exclusive(dir: &Path) -> io::Result<StoreLock> {
        let in_process = IN_PROCESS.lock();
        let file = open(dir, STORE_LOCK_FILE)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(StoreLock {
            _file: file,
            _in_process: in_process,
        })
    }
}

/// A new open file description each time: flock locks belong to it, so two holders in
/// one process do not share (and release) one lock.
fn open(dir: &Path, name: &str) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(name))
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock only reads its integer arguments; the fd is owned by `file`,
        // which outlives the call. (std's File::lock needs a newer Rust than our MSRV.)
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
