//! Reading a directory as it is found: at open (possibly dirty after a crash, or written
//! by the seed plugin) and at each cleanup (other processes may share the directory).
//! What counts as an entry is decided by `survey`, the same function `velox-cache` uses.

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
    pub temp_files: u64,
    pub orphans: u64,
    pub corrupt: u64,
    /// Whether leftovers were deleted (only under the exclusive directory lock).
    pub swept: bool,
}

/// Lists `dir`, keeps the valid entries and, when `sweep` is set, deletes temp files,
/// orphan `.bin`/`.json` files and entries whose metadata is corrupt or disagrees with
/// the binary (hash vs file name, `file_size` vs the binary's size, a binary that is a
/// symbolic link or not a regular file). Files it does not recognise are left alone.
pub(crate) fn scan(dir: &Path, sweep: bool) -> io::Result<Scan> {
    let survey = survey::survey(dir)?;
    let mut scan = Scan {
        swept: sweep,
        valid: survey.found.into_iter().map(|f| (f.key, f.meta)).collect(),
        ..Scan::default()
    };
    for problem in survey.problems {
        match problem.kind {
            Kind::TempFile => scan.temp_files += 1,
            Kind::OrphanBinary | Kind::OrphanMetadata => scan.orphans += 1,
            Kind::Corrupt | Kind::SizeMismatch | Kind::Unreadable => scan.corrupt += 1,
        }
        let reason = format!("{}: {}", problem.kind.as_str(), problem.detail);
        for path in &problem.remove {
            discard(sweep, path, &reason);
        }
    }
    Ok(scan)
}

fn discard(sweep: bool, path: &Path, reason: &str) {
    if !sweep {
        tracing::debug!(file = %path.display(), reason, "cache file left for a later sweep");
        return;
    }
    match layout::remove_if_exists(path) {
        Ok(_) => tracing::warn!(file = %path.display(), reason, "removed from the cache directory"),
        Err(e) => tracing::warn!(
            file = %path.display(),
            reason,
            error = %e,
            "could not remove from the cache directory"
        ),
    }
}
