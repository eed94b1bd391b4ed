//! Taking a built binary into the cache: ingest (hardlink, else copy) into a temp file,
//! then the commit protocol: rename to `{key}.bin`, metadata to a temp file, rename to
//! `{key}.json` (the commit point), sync the directory.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::layout::{self, BIN_EXT};
use super::meta::Metadata;

/// How a binary gets into the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingest {
    /// Hardlink when the source is on the same filesystem (no copy), copy otherwise.
    #[default]
    LinkOrCopy,
    /// Always copy (tests of the copy path; filesystems where links are unwanted).
    CopyOnly,
}

/// A file in the cache directory that is deleted on drop unless kept.
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> TempFile {
        TempFile { path, armed: true }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it to `to`; from then on it is no longer deleted on drop.
    pub(crate) fn rename_to(mut self, to: &Path) -> io::Result<()> {
        fs::rename(&self.path, to)?;
        self.armed = false;
        // rename() of two links to one inode succeeds without doing anything; do not leave
        // the temp name behind in that case.
        let _ = layout::remove_if_exists(&self.path);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = layout::remove_if_exists(&self.path);
        }
    }
}

/// The binary in a temp file of `dir`, synced, opened read-only for the artifact.
pub(crate) struct Ingested {
    pub temp: TempFile,
    pub file: File,
    pub size: u64,
    pub linked: bool,
}

/// Puts the inode open as `src` into a new temp file in `dir`. The returned read-only
/// `File` is the artifact's: whatever happens to names afterwards, it reads these bytes.
pub(crate) fn ingest(dir: &Path, src: &File, mode: Ingest) -> io::Result<Ingested> {
    let temp = TempFile::new(layout::temp_path(dir, BIN_EXT));
    let linked = mode == Ingest::LinkOrCopy && link(src, temp.path());
    if !linked {
        copy(src, temp.path())?;
    }
    let file = File::open(temp.path())?;
    // For a link this syncs the build's own file: the cache entry must survive a crash.
    file.sync_all()?;
    let size = file.metadata()?.len();
    Ok(Ingested {
        temp,
        file,
        size,
        linked,
    })
}

/// The path of an open descriptor, which the kernel resolves to its inode (not to
/// whatever name the file has now).
fn fd_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

fn link(src: &File, dst: &Path) -> bool {
    let result = (|| {
        let from = CString::new(fd_path(src).into_os_string().into_vec())?;
        let to = CString::new(dst.as_os_str().as_bytes())?;
        // SAFETY: both pointers are NUL-terminated strings that outlive the call.
        // AT_SYMLINK_FOLLOW makes the magic link name the open inode (std's hard_link
        // passes no flags, which would link the /proc entry itself).
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })();
    match result {
        Ok(()) => true,
        Err(e) => {
            // EXDEV (another filesystem) is the expected case; EPERM (protected_hardlinks,
            // filesystems without links) and a missing /proc also fall back to a copy.
            tracing::debug!(error = %e, "hardlink refused, copying");
            false
        }
    }
}

fn copy(src: &File, dst: &Path) -> io::Result<()> {
    let mut to = OpenOptions::new().write(true).create_new(true).open(dst)?;
    match File::open(fd_path(src)) {
        // A description of our own: the caller's offset stays where it was, and
        // file-to-file io::copy uses copy_file_range/sendfile (no bytes through us).
        Ok(mut own) => {
            io::copy(&mut own, &mut to)?;
        }
        Err(_) => copy_at(src, &mut to)?,
    }
    to.set_permissions(src.metadata()?.permissions())?;
    to.sync_all()
}

/// Positional reads: no shared offset is moved.
fn copy_at(src: &File, to: &mut File) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut at = 0u64;
    loop {
        let n = match src.read_at(&mut buf, at) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        at += n as u64;
    }
}

/// Commits an ingested binary under `meta.hash`: any previous entry of that key is
/// uncommitted first (its metadata removed) so that no reader ever pairs the old
/// metadata with the new binary. On error nothing of this entry is left behind.
pub(crate) fn commit(
    dir: &Path,
    ingested: Ingested,
    meta: &Metadata,
    key: &crate::request::CacheKey,
) -> io::Result<File> {
    let bin = layout::bin_path(dir, key);
    let json = layout::json_path(dir, key);
    layout::remove_if_exists(&json)?;
    let Ingested { temp, file, .. } = ingested;
    temp.rename_to(&bin)?;
    let result = meta.write(dir, key).and_then(|()| layout::sync_dir(dir));
    if let Err(e) = result {
        let _ = layout::remove_if_exists(&json);
        let _ = layout::remove_if_exists(&bin);
        return Err(e);
    }
    Ok(file)
}
