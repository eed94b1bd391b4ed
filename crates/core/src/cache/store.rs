//! Taking a built binary into the cache: ingest (a copy of our own, hashed) into a temp
//! file, then the commit protocol: rename to `{key}.bin`, metadata to a temp file,
//! rename to `{key}.json` (the commit point), sync the directory.
//!
//! The cache owns its bytes: ingest never hard-links, because a link shares the inode
//! with whoever can write the build output, and a rewrite after the answer would change
//! what later hits serve. A reflink (FICLONE) is fine, being copy-on-write. The copy is
//! written 0644 (0755 when the source had an exec bit), owned by this process, with no
//! setuid, setgid or sticky bit, whatever the source's mode was.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::content;
use super::layout::{self, BIN_EXT};
use super::meta::Metadata;

/// How a binary gets into the directory. Both make a copy the cache owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingest {
    /// A reflink (copy-on-write clone) where the filesystem supports it, then a hash of
    /// the clone; otherwise a copy that hashes as it writes.
    #[default]
    ReflinkOrCopy,
    /// Always the hashing copy (tests of the copy path).
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
    /// SHA-256 of exactly the bytes in `file`.
    pub sha256: String,
    pub reflinked: bool,
}

/// Copies the inode open as `src` into a new temp file in `dir`, hashing the copy. The
/// returned read-only `File` is the artifact's: whatever happens to names afterwards,
/// it reads these bytes. `src`'s offset is not moved (positional reads only).
pub(crate) fn ingest(dir: &Path, src: &File, mode: Ingest) -> io::Result<Ingested> {
    let temp = TempFile::new(layout::temp_path(dir, BIN_EXT));
    let to = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(temp.path())?;
    let reflinked = mode == Ingest::ReflinkOrCopy && reflink(src, &to);
    let (sha256, size) = if reflinked {
        // The clone shares extents until either side writes; hashing it reads the
        // bytes the cache now owns, not the source, which may change meanwhile.
        content::hash_file(&to)?
    } else {
        copy_hashing(src, &to)?
    };
    // Explicit, so neither the source's mode nor the umask decides.
    let exec = src.metadata()?.permissions().mode() & 0o111 != 0;
    to.set_permissions(Permissions::from_mode(if exec { 0o755 } else { 0o644 }))?;
    to.sync_all()?;
    let file = File::open(temp.path())?;
    Ok(Ingested {
        temp,
        file,
        size,
        sha256,
        reflinked,
    })
}

/// `FICLONE` from `linux/fs.h` (`_IOW(0x94, 9, int)`).
const FICLONE: libc::c_ulong = 0x4004_9409;

/// A copy-on-write clone of the whole file; false where the filesystem cannot (ext4,
/// tmpfs, another filesystem), which is the common case.
fn reflink(src: &File, to: &File) -> bool {
    // SAFETY: two open descriptors; FICLONE takes the source fd as its argument.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), FICLONE as _, src.as_raw_fd()) };
    if rc != 0 {
        tracing::trace!(error = %io::Error::last_os_error(), "reflink not available, copying");
    }
    rc == 0
}

/// One pass over the source: each chunk is read once (positional), hashed and written.
/// The hash therefore describes exactly what was written, even if the source is being
/// rewritten while we copy (then the size check of the caller or a later verify sees it).
fn copy_hashing(src: &File, mut to: &File) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; content::CHUNK];
    let mut at = 0u64;
    loop {
        let n = match src.read_at(&mut buf, at) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        at += n as u64;
    }
    Ok((content::hex(&hasher.finalize()), at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The cost of ingesting a 64 MiB binary, each way it could be done; numbers only,
    /// nothing asserted. `VXM_MEASURE_DIR` picks the filesystem (default: the system
    /// temp dir). Run with:
    /// `cargo test --release --lib cache::store::tests::ingest_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a test"]
    fn ingest_cost_of_a_64_mib_binary() {
        const SIZE: usize = 64 << 20;
        let base = std::env::var_os("VXM_MEASURE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::tempdir_in(base).unwrap();
        let src_path = dir.path().join("rr");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let bytes: Vec<u8> = (0..SIZE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fs::write(&src_path, &bytes).unwrap();
        let src = File::open(&src_path).unwrap();
        let fresh = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(dir.path().join(name))
                .unwrap()
        };
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
        let rounds = 5;
        let (mut rhw, mut cfr, mut cfr_hash, mut hash_only) = (0.0, 0.0, 0.0, 0.0);
        for round in 0..rounds {
            let t = Instant::now();
            let to = fresh(&format!("a{round}"));
            copy_hashing(&src, &to).unwrap();
            to.sync_all().unwrap();
            rhw += ms(t);

            let t = Instant::now();
            let to = fresh(&format!("b{round}"));
            let mut left = SIZE;
            let mut off_in: i64 = 0;
            while left > 0 {
                // SAFETY: two open descriptors, an offset we own.
                let n = unsafe {
                    libc::copy_file_range(
                        src.as_raw_fd(),
                        &mut off_in,
                        to.as_raw_fd(),
                        std::ptr::null_mut(),
                        left,
                        0,
                    )
                };
                assert!(n > 0, "{}", io::Error::last_os_error());
                left -= n as usize;
            }
            let copied = ms(t);
            content::hash_file(&to).unwrap();
            to.sync_all().unwrap();
            cfr_hash += ms(t);
            cfr += copied;

            let t = Instant::now();
            content::hash_file(&src).unwrap();
            hash_only += ms(t);
        }
        let n = f64::from(rounds);
        println!(
            "64 MiB, mean of {rounds}: read+hash+write+fsync {:.1} ms; copy_file_range {:.1} ms, \
             then hash+fsync {:.1} ms total; sha256 alone {:.1} ms; reflink here: {}",
            rhw / n,
            cfr / n,
            cfr_hash / n,
            hash_only / n,
            reflink(&src, &fresh("c")),
        );
    }
}
