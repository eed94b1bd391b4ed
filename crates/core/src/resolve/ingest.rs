//! Taking the binary that Velox says it built. The path comes from another machine's
//! answer, so it is treated as untrusted input: it must lie inside one of the
//! configured `allowed_build_dirs`, must not be reached through a symlink below that
//! directory, and must name a non-empty regular file with exactly one link (a hard link
//! is a name the directory checks cannot see). It is opened at once, because
//! Velox deletes its outputs later.

use std::fs::{File, Metadata};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// An allowed directory as configured and as the filesystem resolves it; a path may be
/// spelled either way (`/tmp` and `/private/tmp` on macOS).
#[derive(Debug, Clone)]
pub struct AllowedDir {
    pub given: PathBuf,
    pub canonical: PathBuf,
}

impl AllowedDir {
    pub fn new(dir: &Path) -> AllowedDir {
        AllowedDir {
            given: dir.to_path_buf(),
            canonical: dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
        }
    }
}

/// A validated build output, open for reading.
#[derive(Debug)]
pub struct Taken {
    pub file: File,
    /// The path as Velox gave it (validated).
    pub path: PathBuf,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
}

fn unsafe_path(path: &Path, reason: impl Into<String>) -> Error {
    Error::UnsafePath {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Validates `raw` and opens it. Every refusal is `Error::UnsafePath` with the reason.
pub fn take(raw: &str, allowed: &[AllowedDir]) -> Result<Taken> {
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(unsafe_path(path, "not an absolute path"));
    }
    // `..` would make the lexical check below meaningless; Velox never sends it.
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(unsafe_path(path, "contains `..`"));
    }
    let normal: PathBuf = path.components().collect();

    // The directory the path lies in, as spelled; the operator's own spelling of it
    // may go through links, what lies below it may not.
    let (dir, root, rest) = allowed
        .iter()
        .find_map(|d| {
            [&d.given, &d.canonical].into_iter().find_map(|root| {
                let rest = normal.strip_prefix(root).ok()?;
                Some((d, root.clone(), rest.to_path_buf()))
            })
        })
        .ok_or_else(|| unsafe_path(path, "outside allowed_build_dirs"))?;
    if rest.as_os_str().is_empty() {
        return Err(unsafe_path(
            path,
            "is an allowed directory itself, not a file",
        ));
    }

    let mut walked = root;
    for component in rest.components() {
        walked.push(component);
        let meta = std::fs::symlink_metadata(&walked)
            .map_err(|e| unsafe_path(path, format!("{}: {e}", walked.display())))?;
        if meta.file_type().is_symlink() {
            return Err(unsafe_path(
                path,
                format!("{} is a symbolic link", walked.display()),
            ));
        }
    }

    // O_NOFOLLOW closes the gap between the check and the open for the last component;
    // O_NONBLOCK keeps a FIFO planted there from blocking the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&normal)
        .map_err(|e| unsafe_path(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| unsafe_path(path, format!("cannot stat: {e}")))?;
    check_regular(path, &meta)?;

    // Where the open file really is, whatever happened to the directories meanwhile.
    let real = opened_path(&file)
        .or_else(|| normal.canonicalize().ok())
        .ok_or_else(|| unsafe_path(path, "cannot resolve the opened file"))?;
    if !real.starts_with(&dir.canonical) {
        return Err(unsafe_path(
            path,
            format!("resolves to {} outside allowed_build_dirs", real.display()),
        ));
    }

    Ok(Taken {
        file,
        path: normal,
        size: meta.len(),
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Opens a binary that this process built itself (the local builder's private output
/// directory): no directory checks, but still a non-empty regular file, not a link.
pub fn take_trusted(path: &Path) -> Result<Taken> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| unsafe_path(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| unsafe_path(path, format!("cannot stat: {e}")))?;
    check_regular(path, &meta)?;
    Ok(Taken {
        file,
        path: path.to_path_buf(),
        size: meta.len(),
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

fn check_regular(path: &Path, meta: &Metadata) -> Result<()> {
    if !meta.file_type().is_file() {
        return Err(unsafe_path(path, "not a regular file"));
    }
    // A second name for the inode may lie anywhere on the filesystem: the path checks
    // above see only the name we were given, so a hard link would let a file from
    // outside the allowed directories through.
    if meta.nlink() != 1 {
        return Err(unsafe_path(
            path,
            format!("has {} hard links (must be 1)", meta.nlink()),
        ));
    }
    if meta.len() == 0 {
        return Err(unsafe_path(path, "is empty"));
    }
    Ok(())
}

/// Linux tells where an open descriptor points; elsewhere the caller falls back to
/// resolving the path again.
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn setup() -> (tempfile::TempDir, Vec<AllowedDir>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("builds")).unwrap();
        let allowed = vec![AllowedDir::new(&dir.path().join("builds"))];
        (dir, allowed)
    }

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    fn reason(e: Error) -> String {
        match e {
            Error::UnsafePath { reason, .. } => reason,
            other => panic!("not UnsafePath: {other:?}"),
        }
    }

    #[test]
    fn a_regular_file_inside_an_allowed_dir_is_taken() {
        let (dir, allowed) = setup();
        let bin = dir.path().join("builds/abc/rr");
        write(&bin, b"ELF....");
        let t = take(bin.to_str().unwrap(), &allowed).unwrap();
        assert_eq!(t.size, 7);
        assert_eq!(t.path, bin);
    }

    #[test]
    fn a_path_outside_the_allowed_dirs_is_refused() {
        let (dir, allowed) = setup();
        let bin = dir.path().join("elsewhere/rr");
        write(&bin, b"x");
        assert!(reason(take(bin.to_str().unwrap(), &allowed).unwrap_err()).contains("outside"));
        assert!(take("/etc/passwd", &allowed).is_err());
    }

    #[test]
    fn dot_dot_and_relative_paths_are_refused() {
        let (dir, allowed) = setup();
        let sneaky = format!("{}/builds/../elsewhere/rr", dir.path().display());
        assert!(reason(take(&sneaky, &allowed).unwrap_err()).contains(".."));
        assert!(take("builds/rr", &allowed).is_err());
    }

    #[test]
    fn a_symlinked_file_is_refused_even_when_its_target_is_allowed() {
        let (dir, allowed) = setup();
        let target = dir.path().join("builds/real");
        write(&target, b"x");
        let link = dir.path().join("builds/link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(reason(take(link.to_str().unwrap(), &allowed).unwrap_err()).contains("symbolic"));
    }

    #[test]
    fn a_symlinked_directory_below_the_allowed_dir_is_refused() {
        let (dir, allowed) = setup();
        write(&dir.path().join("outside/rr"), b"secret");
        std::os::unix::fs::symlink(dir.path().join("outside"), dir.path().join("builds/d"))
            .unwrap();
        let p = dir.path().join("builds/d/rr");
        assert!(reason(take(p.to_str().unwrap(), &allowed).unwrap_err()).contains("symbolic"));
    }

    #[test]
    fn a_hard_link_to_a_file_outside_is_refused() {
        let (dir, allowed) = setup();
        let secret = dir.path().join("outside/secret");
        write(&secret, b"secret");
        std::fs::create_dir_all(dir.path().join("builds/h")).unwrap();
        let link = dir.path().join("builds/h/rr");
        std::fs::hard_link(&secret, &link).unwrap();
        let r = reason(take(link.to_str().unwrap(), &allowed).unwrap_err());
        assert!(r.contains("hard links"), "{r}");
    }

    #[test]
    fn missing_empty_and_non_regular_files_are_refused() {
        let (dir, allowed) = setup();
        let missing = dir.path().join("builds/missing");
        assert!(take(missing.to_str().unwrap(), &allowed).is_err());
        let empty = dir.path().join("builds/empty");
        write(&empty, b"");
        assert!(reason(take(empty.to_str().unwrap(), &allowed).unwrap_err()).contains("empty"));
        let sub = dir.path().join("builds/sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(reason(take(sub.to_str().unwrap(), &allowed).unwrap_err()).contains("regular"));
        let allowed_root = dir.path().join("builds");
        assert!(take(allowed_root.to_str().unwrap(), &allowed).is_err());
    }
}
