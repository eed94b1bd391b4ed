//! Private directories under `work_dir`: a build's workspace and its output directory.
//! Each one removes itself when dropped, whatever happened to the build.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: Option<PathBuf>,
}

impl PrivateDir {
    /// Creates `<parent>/<prefix><random>` readable by this user only.
    pub(crate) fn create(parent: &Path, prefix: &str) -> Result<PrivateDir> {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating local_build_dir {}", parent.display()), e))?;
        let mut last_err = None;
        // A name clash is astronomically rare; retry a few times rather than loop forever.
        for _ in 0..8 {
            let suffix: u64 = rand::thread_rng().gen();
            let path = parent.join(format!("{prefix}{suffix:016x}"));
            match private_dir_builder().create(&path) {
                Ok(()) => return Ok(PrivateDir { path: Some(path) }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => {
                    return Err(Error::io(format!("creating {}", path.display()), e));
                }
            }
        }
        Err(Error::io(
            format!("creating a private directory in {}", parent.display()),
            last_err.expect("the loop ran"),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().expect("present until removed")
    }

    /// Removes the directory now, off the async threads.
    pub(crate) async fn remove(mut self) {
        if let Some(path) = self.path.take() {
            let _ = tokio::task::spawn_blocking(move || remove_with_retries(&path)).await;
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        // Dropped mid-build: the go processes were just sent SIGKILL and may still be
        // writing for a few milliseconds, so removal retries; do it off this thread
        // when a runtime is around.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || remove_with_retries(&path));
            }
            Err(_) => remove_with_retries(&path),
        }
    }
}

fn private_dir_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
}

fn remove_with_retries(path: &Path) {
    const ATTEMPTS: u32 = 50;
    for attempt in 1..=ATTEMPTS {
        match std::fs::remove_dir_all(path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if attempt == ATTEMPTS => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove local build directory");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
