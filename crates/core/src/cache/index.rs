//! The in-memory index: what is in the directory, so that a hit is a hash-map lookup and
//! an open, never a stat plus a JSON parse.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::layout;
use super::meta::Metadata;
use super::record::{Kind, Record};
use crate::provenance::Provenance;
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
    /// `sha256` by the field below. `None` when the entry came from the journal (the
    /// file is read when its access statistics are written back).
    pub meta: Option<Metadata>,
    pub access: Access,
    /// The content hash: from the metadata, or computed once for an entry the seed
    /// wrote without one (then written back with the next metadata write).
    pub sha256: OnceLock<String>,
    /// What verifying the binary found: from the metadata, or from the one background
    /// check of an entry written without it (then written back like `sha256`).
    pub provenance: OnceLock<Provenance>,
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
        let provenance = OnceLock::new();
        if let Some(p) = &meta.provenance {
            let _ = provenance.set(p.clone());
        }
        Entry {
            sha256,
            provenance,
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
            meta: Some(meta),
        }
    }

    /// An entry as the journal recorded it, without reading its metadata.
    pub(crate) fn from_record(dir: &Path, r: &Record) -> Entry {
        let sha256 = OnceLock::new();
        if let Some(h) = &r.sha256 {
            let _ = sha256.set(h.clone());
        }
        Entry {
            sha256,
            provenance: OnceLock::new(),
            bin_path: layout::bin_path(dir, &r.key),
            key: r.key.clone(),
            size: r.size,
            created_at: r.created_at,
            created_tick: 0,
            access: Access {
                last_accessed: AtomicI64::new(r.last_accessed),
                tick: AtomicU64::new(0),
                count: AtomicU64::new(r.access_count),
                dirty: AtomicBool::new(false),
            },
            meta: None,
        }
    }

    /// This entry as a journal record of `kind`, with its current access statistics.
    pub(crate) fn record(&self, kind: Kind) -> Record {
        Record {
            kind,
            key: self.key.clone(),
            size: self.size,
            created_at: self.created_at,
            last_accessed: self.access.last_accessed.load(Ordering::Relaxed),
            access_count: self.access.count.load(Ordering::Relaxed),
            sha256: self.sha256.get().cloned(),
        }
    }

    /// Takes the access statistics (and hash) another process recorded: the most recent
    /// access and the largest count win (each process counts its own hits; none is lost).
    pub(crate) fn merge(&self, r: &Record) {
        self.access
            .last_accessed
            .fetch_max(r.last_accessed, Ordering::Relaxed);
        self.access
            .count
            .fetch_max(r.access_count, Ordering::Relaxed);
        if let Some(h) = &r.sha256 {
            let _ = self.sha256.set(h.clone());
        }
    }

    /// Whether `r` describes this very entry (not an older or newer one of its key).
    pub(crate) fn is(&self, r: &Record) -> bool {
        self.created_at == r.created_at && self.size == r.size
    }

    pub(crate) fn record_access(&self, now: i64, tick: u64) {
        self.access.last_accessed.store(now, Ordering::Relaxed);
        self.access.tick.store(tick, Ordering::Relaxed);
        self.access.count.fetch_add(1, Ordering::Relaxed);
        self.access.dirty.store(true, Ordering::Release);
    }

    /// The metadata with the current access statistics, as it should be on disk; `None`
    /// when the file on disk is of another entry of the key, or gone.
    pub(crate) fn current_meta(&self, dir: &Path) -> io::Result<Option<Metadata>> {
        let mut meta = match &self.meta {
            Some(m) => m.clone(),
            None => match Metadata::load(dir, &self.key) {
                Ok(m) if m.created_at == self.created_at && m.file_size == self.size => m,
                Ok(_) => return Ok(None),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(io::Error::other(e.to_string())),
            },
        };
        meta.last_accessed = self.access.last_accessed.load(Ordering::Relaxed);
        meta.access_count = self.access.count.load(Ordering::Relaxed);
        meta.sha256 = self.sha256.get().cloned();
        if let Some(p) = self.provenance.get() {
            meta.provenance = Some(p.clone());
        }
        Ok(Some(meta))
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

    /// Empties the index of entries (reservations stay) and hands them over.
    pub(crate) fn take_entries(&mut self) -> HashMap<CacheKey, Arc<Entry>> {
        self.bytes = 0;
        std::mem::take(&mut self.entries)
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

    /// Entries and bytes promised to stores in progress.
    pub(crate) fn reserved(&self) -> (u64, u64) {
        (self.reserved_entries, self.reserved_bytes)
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
