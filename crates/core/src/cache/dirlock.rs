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

use super::layout::{self, LOCK_FILE, STORE_LOCK_FILE};
use super::open;

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
///
/// Never follows a link (a lock file is created with `O_NOFOLLOW`, so nothing is ever
/// created at a link's target). A lock file that is a link, a FIFO or anything but a
/// regular file is foreign: its name is removed (unlink never follows) and a regular
/// file created in its place, under a lock on the directory itself so that processes
/// repairing it at once agree on one new file. A directory in its place is refused.
fn open(dir: &Path, name: &str) -> io::Result<File> {
    let path = dir.join(name);
    match open_lock_file(&path) {
        Err(e) if open::is_not_regular(&e) => {
            open::foreign(&path, "a lock file that is a link or not a regular file");
            replace_foreign(dir, &path)?;
            open_lock_file(&path)
        }
        opened => opened,
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    open::open_with(&mut opts, path).map(|(file, _)| file)
}

/// Removes the foreign name, unless another process replaced it with a regular file
/// while we waited for the directory.
fn replace_foreign(dir: &Path, path: &Path) -> io::Result<()> {
    let dir = File::open(dir)?;
    flock(&dir, libc::LOCK_EX)?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => layout::remove_if_exists(path).map(|_| ()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
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
