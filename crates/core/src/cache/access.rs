//! Access statistics (`last_accessed`, `access_count`): counted in memory on every hit,
//! written to the metadata files in batches, so that a hit never writes to disk.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::dirlock::DirLock;
use super::index::Entry;
use super::record::Kind;
use super::{shared, Inner};

/// Records a hit; with `access_update_interval` = 0 the metadata is written at once.
pub(crate) fn record_hit(inner: &Inner, entry: &Arc<Entry>) {
    entry.record_access(inner.clock.now(), inner.tick());
    if inner.access_interval.is_zero() {
        if let Err(e) = write_one(inner, entry) {
            tracing::warn!(key = %entry.key, error = %e, "could not write access statistics");
        }
    }
}

/// Writes every entry accessed since its last write. Returns the first error after
/// trying them all; entries that failed stay pending.
pub(crate) fn flush(inner: &Inner) -> io::Result<()> {
    let pending: Vec<Arc<Entry>> = inner
        .index
        .read()
        .iter()
        .filter(|e| e.access.dirty.load(Ordering::Acquire))
        .cloned()
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut first_error = None;
    let mut written = 0u64;
    for entry in &pending {
        match write_one(inner, entry) {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(key = %entry.key, error = %e, "could not write access statistics");
                first_error.get_or_insert(e);
            }
        }
    }
    tracing::debug!(
        pending = pending.len(),
        written,
        "access statistics flushed"
    );
    first_error.map_or(Ok(()), Err)
}

/// `Ok(false)` when there was nothing to write or the entry has left the cache.
pub(crate) fn write_one(inner: &Inner, entry: &Arc<Entry>) -> io::Result<bool> {
    // A sweep in another process must not take our temp file for a crash's leftover.
    let _dir = DirLock::shared(&inner.dir)?;
    // Serialised with commits and deletions in this process, so that an evicted or
    // replaced entry's metadata is never written back over the directory's state.
    let _meta = inner.meta_lock.lock();
    if !entry.access.dirty.swap(false, Ordering::AcqRel) {
        return Ok(false);
    }
    let indexed = inner
        .index
        .read()
        .get(&entry.key)
        .is_some_and(|current| Arc::ptr_eq(&current, entry));
    if !indexed {
        return Ok(false);
    }
    if !entry.bin_path.exists() {
        // Removed underneath by another process: a miss from now on.
        inner.index.write().remove_exact(entry);
        return Ok(false);
    }
    let result = match entry.current_meta(&inner.dir) {
        Ok(Some(meta)) => meta.write(&inner.dir, &entry.key),
        // Replaced or removed by another process: its own record says so.
        Ok(None) => return Ok(false),
        Err(e) => Err(e),
    };
    if result.is_err() {
        entry.access.dirty.store(true, Ordering::Release);
        return result.map(|()| false);
    }
    // Other processes learn the statistics (and a hash computed since) from the journal.
    shared::note(inner, &[entry.record(Kind::Access)]);
    Ok(true)
}
