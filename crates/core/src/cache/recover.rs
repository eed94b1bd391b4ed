//! Reading a directory as it is found: at open (possibly dirty after a crash, or written
//! by the seed plugin) and at each cleanup (other processes may share the directory).
//! What counts as an entry is decided by `survey`, the same function `velox-cache` uses;
//! `scan_keys` judges only the keys the journal or a listing points at.

use std::io;
use std::path::Path;

use super::layout;
use super::meta::Metadata;
use super::survey::{self, Kind};
use crate::request::CacheKey;

/// What a scan found and did.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Committed entries whose metadata and binary agree.
    pub valid: Vec<(CacheKey, Metadata)>,
    pub problems: Problems,
}

/// How many files of each kind of problem a scan found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Problems {
    pub temp_files: u64,
    pub orphans: u64,
    pub corrupt: u64,
}

impl std::ops::AddAssign for Problems {
    fn add_assign(&mut self, o: Problems) {
        self.temp_files += o.temp_files;
        self.orphans += o.orphans;
        self.corrupt += o.corrupt;
    }
}

/// Lists `dir`, keeps the valid entries and, when `sweep` is set, deletes temp files,
/// orphan `.bin`/`.json` files and entries whose metadata is corrupt or disagrees with
/// the binary (hash vs file name, `file_size` vs the binary's size, a binary that is a
/// symbolic link or not a regular file). Files it does not recognise are left alone.
pub(crate) fn scan(dir: &Path, sweep: bool) -> io::Result<Scan> {
    Ok(settle(survey::survey(dir)?, sweep))
}

/// [`scan`] of `keys` only (their two names each, no listing).
pub(crate) fn scan_keys<'a>(
    dir: &Path,
    keys: impl IntoIterator<Item = &'a CacheKey>,
    sweep: bool,
) -> Scan {
    settle(survey::survey_keys(dir, keys), sweep)
}

fn settle(survey: survey::Survey, sweep: bool) -> Scan {
    let mut scan = Scan {
        valid: survey.found.into_iter().map(|f| (f.key, f.meta)).collect(),
        ..Scan::default()
    };
    for problem in survey.problems {
        match problem.kind {
            Kind::TempFile => scan.problems.temp_files += 1,
            Kind::OrphanBinary | Kind::OrphanMetadata => scan.problems.orphans += 1,
            Kind::Corrupt | Kind::SizeMismatch | Kind::Unreadable => scan.problems.corrupt += 1,
        }
        let reason = format!("{}: {}", problem.kind.as_str(), problem.detail);
        for path in &problem.remove {
            discard(sweep, path, &reason);
        }
    }
    scan
}

/// Deletes the temp files a listing found (only under the exclusive directory lock: no
/// write is in progress, and a temp name is never reused).
/// Returns how many were still there.
pub(crate) fn sweep_temps(temps: &[std::path::PathBuf]) -> u64 {
    temps
        .iter()
        .filter(|p| {
            discard(
                true,
                p,
                "temp_file: an unfinished write (a crash's leftover)",
            )
        })
        .count() as u64
}

/// Whether the file was there to remove.
fn discard(sweep: bool, path: &Path, reason: &str) -> bool {
    if !sweep {
        tracing::debug!(file = %path.display(), reason, "cache file left for a later sweep");
        return false;
    }
    match layout::remove_if_exists(path) {
        Ok(true) => {
            tracing::warn!(file = %path.display(), reason, "removed from the cache directory");
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(
                file = %path.display(),
                reason,
                error = %e,
                "could not remove from the cache directory"
            );
            false
        }
    }
}
