//! Limits over the whole directory, whichever process wrote or read its entries.
//!
//! Each process indexes the directory in memory, but other processes store, read and
//! evict behind its back. So the step that decides what to evict and commits a new entry
//! runs under the exclusive store lock (`dirlock::StoreLock`), one at a time across all
//! processes, and starts by re-reading the directory: every complete entry, with the
//! access statistics other processes flushed. Victims are then chosen by the policy over
//! that view, the index agrees with the directory again, and the directory's usage is
//! recorded for every process's stats. A store happens once per build, so a listing and
//! a metadata parse per entry is cheap next to it (docs/decisions: shared directory).

use std::io;
use std::sync::Arc;

use super::dirlock::StoreLock;
use super::evict::{self, Victim};
use super::index::Entry;
use super::usage::{self, DirUsage};
use super::{recover, Inner};
use crate::request::CacheKey;

/// Re-reads the directory into the index and takes out of it what must go for the room
/// reserved by stores in progress (this one's, for `storing`, included) to fit. The caller deletes the
/// victims' files before committing, still under `_lock`.
pub(crate) fn consistent_victims(
    inner: &Inner,
    storing: &CacheKey,
    _lock: &StoreLock,
) -> io::Result<Vec<Victim>> {
    let scan = recover::scan(&inner.dir, false)?;
    inner.reconcile(scan.valid);
    let mut index = inner.index.write();
    // An entry of the key being stored is replaced by the commit, not evicted.
    index.remove(storing);
    match evict::make_room(&mut index, inner.policy, inner.limits, 0, 0) {
        Some(victims) => Ok(victims),
        None => {
            // Only room promised to this process's own stores is left: each was admitted
            // against the limits, so this cannot happen; never evict blindly if it does.
            tracing::warn!("cache: reserved room exceeds the limits; nothing evicted");
            Ok(Vec::new())
        }
    }
}

/// What the index holds after a store or cleanup under the store lock, which is then
/// exactly the directory, recorded for every process's stats.
pub(crate) fn record_usage(inner: &Inner, _lock: &StoreLock) -> DirUsage {
    let usage = {
        let index = inner.index.read();
        DirUsage {
            entries: index.len(),
            bytes: index.bytes(),
            updated_at: inner.clock.now(),
        }
    };
    usage::write(&inner.dir, usage);
    usage
}

/// Access statistics flushed by other processes count: the most recent access and the
/// largest count win (each process writes its own view; none is lost by this merge).
pub(crate) fn merge_access(entry: &Entry, on_disk: &super::meta::Metadata) {
    use std::sync::atomic::Ordering::Relaxed;
    entry
        .access
        .last_accessed
        .fetch_max(on_disk.last_accessed, Relaxed);
    entry.access.count.fetch_max(on_disk.access_count, Relaxed);
}

/// After an on-disk lookup added an entry another process stored, this process's index
/// may count entries that process evicted to make room: drop those whose metadata is
/// gone, so that `entries`/`bytes` do not read above the limits. Only runs when over.
pub(crate) fn forget_vanished_if_over(inner: &Inner) {
    let over = {
        let index = inner.index.read();
        !inner.limits.fit(index.len(), index.bytes())
    };
    if !over {
        return;
    }
    let candidates: Vec<Arc<Entry>> = inner.index.read().iter().cloned().collect();
    let gone: Vec<Arc<Entry>> = candidates
        .into_iter()
        .filter(|e| !super::layout::json_path(&inner.dir, &e.key).exists())
        .collect();
    let mut index = inner.index.write();
    for e in &gone {
        index.remove_exact(e);
    }
}
