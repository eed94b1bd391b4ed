//! `.velox.usage`: how many entries and bytes the whole directory holds, written by
//! whichever process last stored or cleaned up (under the store lock, right after it
//! looked at every entry), read by every process for its stats. Each process's own index
//! may lag behind the directory (it learns of others' stores at its next store, cleanup
//! or on-disk lookup); this file does not.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dirlock::DirLock;
use super::layout::{self, JSON_EXT, USAGE_FILE};
use super::open;

/// The directory's contents as of `updated_at` (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirUsage {
    pub entries: u64,
    pub bytes: u64,
    pub updated_at: i64,
}

/// Replaces the file atomically (temp file + rename). A failure only makes the stats
/// older, so it is logged, not returned.
pub(crate) fn write(dir: &Path, usage: DirUsage) {
    let temp = layout::temp_path(dir, JSON_EXT);
    let result = (|| {
        // A sweep in another process must not take the temp file for a leftover.
        let _dir = DirLock::shared(dir)?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        f.write_all(&serde_json::to_vec(&usage).expect("usage always serialises"))?;
        // No fsync: after a crash the next store or cleanup rewrites it.
        fs::rename(&temp, dir.join(USAGE_FILE))
    })();
    if let Err(e) = result {
        let _ = layout::remove_if_exists(&temp);
        tracing::debug!(error = %e, "directory usage not recorded");
    }
}

/// `None` when no store or cleanup recorded it yet (or it is unreadable or foreign).
/// Never blocks: `vxm_stats_json` calls it.
pub(crate) fn read(dir: &Path) -> Option<DirUsage> {
    let bytes = match open::read_small(&dir.join(USAGE_FILE), open::SMALL_MAX) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %e, "directory usage unreadable");
            return None;
        }
    };
    serde_json::from_slice(&bytes).ok()
}
