//! The in-memory index: what is in the directory, so that a hit is a hash-map lookup and
//! an open, never a stat plus a JSON parse.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::meta::Metadata;
use crate::request::CacheKey;

/// One committed entry. Access statistics are atomics so that a hit only needs the
/// index's read lock.
#[derive(Debug)]
pub(crate) struct Entry {
    pub key: CacheKey,
    pub bin_path: PathBuf,
    pub size: u64,
    pub created_at: i64,
    /// Position in this process's order of events (0 = found on disk); breaks ties
    /// between entries created within the same second.
    pub created_tick: u64,
    /// The metadata as committed; its access fields are superseded by `access` and its
    /// `sha256` by the field below.
    pub meta: Metadata,
    pub access: Access,
    /// The content hash: from the metadata, or computed once for an entry the seed
    /// wrote without one (then written back with the next metadata write).
    pub sha256: OnceLock<String>,
}

#[derive(Debug)]
pub(crate) struct Access {
    pub last_accessed: AtomicI64,
    /// Same role as `created_tick`, for accesses.
    pub tick: AtomicU64,
    pub count: AtomicU64,
    /// Accessed since the metadata file was last written.
    pub dirty: AtomicBool,
}

impl Entry {
    pub(crate) fn new(key: CacheKey, bin_path: PathBuf, meta: Metadata, tick: u64) -> Entry {
        let sha256 = OnceLock::new();
        if let Some(h) = &meta.sha256 {
            let _ = sha256.set(h.clone());
        }
        Entry {
            sha256,
            key,
            bin_path,
            size: meta.file_size,
            created_at: meta.created_at,
            created_tick: tick,
            access: Access {
                last_accessed: AtomicI64::new(meta.last_accessed),
                tick: AtomicU64::new(tick),
                count: AtomicU64::new(meta.access_count),
                dirty: AtomicBool::new(false),
            },
            meta,
        }
    }

    pub(crate) fn record_access(&self, now: i64, tick: u64) {
        self.access.last_accessed.store(now, Ordering::Relaxed);
        self.access.tick.store(tick, Ordering::Relaxed);
        self.access.count.fetch_add(1, Ordering::Relaxed);
        self.access.dirty.store(true, Ordering::Release);
    }

    /// The metadata with the current access statistics, as it should be on disk.
    pub(crate) fn current_meta(&self) -> Metadata {
        let mut meta = self.meta.clone();
        meta.last_accessed = self.access.last_accessed.load(Ordering::Relaxed);
        meta.access_count = self.access.count.load(Ordering::Relaxed);
        meta.sha256 = self.sha256.get().cloned();
        meta
    }
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: HashMap<CacheKey, Arc<Entry>>,
    bytes: u64,
    /// Room promised to stores that are writing now; counted against the limits.
    reserved_bytes: u64,
    reserved_entries: u64,
}

impl Index {
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.entries.get(key).cloned()
    }

    /// Inserts or replaces; returns the replaced entry.
    pub(crate) fn insert(&mut self, entry: Arc<Entry>) -> Option<Arc<Entry>> {
        self.bytes += entry.size;
        let old = self.entries.insert(entry.key.clone(), entry);
        if let Some(old) = &old {
            self.bytes -= old.size;
        }
        old
    }

    /// Puts back entries taken out, unless their key was stored again meanwhile.
    pub(crate) fn restore(&mut self, entries: impl IntoIterator<Item = Arc<Entry>>) {
        for e in entries {
            if !self.entries.contains_key(&e.key) {
                self.insert(e);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &CacheKey) -> Option<Arc<Entry>> {
        let old = self.entries.remove(key)?;
        self.bytes -= old.size;
        Some(old)
    }

    /// Removes `entry` only if it is still the one indexed under its key (a newer store
    /// may have replaced it meanwhile).
    pub(crate) fn remove_exact(&mut self, entry: &Arc<Entry>) -> bool {
        match self.entries.get(&entry.key) {
            Some(current) if Arc::ptr_eq(current, entry) => {
                self.remove(&entry.key);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.entries.values()
    }

    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries and bytes, committed plus promised.
    pub(crate) fn committed_and_reserved(&self) -> (u64, u64) {
        (
            self.len() + self.reserved_entries,
            self.bytes + self.reserved_bytes,
        )
    }

    pub(crate) fn reserve(&mut self, bytes: u64) {
        self.reserved_bytes += bytes;
        self.reserved_entries += 1;
    }

    pub(crate) fn release(&mut self, bytes: u64) {
        self.reserved_bytes -= bytes;
        self.reserved_entries -= 1;
    }
}
