//! Reading a directory as it is found: at open (possibly dirty after a crash, or written
//! by the seed plugin) and at each cleanup (other processes may share the directory).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use super::layout::{self, FileKind};
use super::meta::Metadata;
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
/// the binary (hash vs file name, `file_size` vs the binary's size). Files it does not
/// recognise are left alone.
pub(crate) fn scan(dir: &Path, sweep: bool) -> io::Result<Scan> {
    let mut scan = Scan {
        swept: sweep,
        ..Scan::default()
    };
    let mut bins: HashMap<CacheKey, Option<u64>> = HashMap::new();
    let mut jsons: Vec<CacheKey> = Vec::new();

    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        match layout::classify(name) {
            FileKind::Temp => {
                scan.temp_files += 1;
                discard(sweep, &dirent.path(), "unfinished write (temp file)");
            }
            FileKind::Binary(key) => {
                let size = fs::metadata(dirent.path())
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                bins.insert(key, size);
            }
            FileKind::Metadata(key) => jsons.push(key),
            FileKind::Other => {}
        }
    }

    for key in jsons {
        let bin = bins.remove(&key);
        let problem = match (Metadata::load(dir, &key), bin) {
            (Err(e), _) if e.is_not_found() => continue,
            (Err(e), _) => e.to_string(),
            (Ok(_), None) => "binary missing (orphan metadata)".to_owned(),
            (Ok(_), Some(None)) => "binary is not a regular file".to_owned(),
            (Ok(meta), Some(Some(size))) if size != meta.file_size => format!(
                "file_size {} but the binary has {size} bytes",
                meta.file_size
            ),
            (Ok(meta), Some(Some(_))) => {
                scan.valid.push((key, meta));
                continue;
            }
        };
        if bin.is_none() {
            scan.orphans += 1;
        } else {
            scan.corrupt += 1;
        }
        discard(sweep, &layout::json_path(dir, &key), &problem);
        if bin.is_some() {
            discard(sweep, &layout::bin_path(dir, &key), &problem);
        }
    }

    for key in bins.into_keys() {
        scan.orphans += 1;
        discard(
            sweep,
            &layout::bin_path(dir, &key),
            "binary without metadata (orphan)",
        );
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
