//! The disk cache: `{key}.bin` + `{key}.json` in one directory, the seed plugin's layout,
//! with an in-memory index so that a hit costs no disk I/O beyond the open.
//!
//! Files: `layout` (names), `meta` (the JSON), `index` (memory), `store` (ingest and
//! commit), `evict` (policies, limits), `recover` (reading a directory as found),
//! `access` (batched access statistics), `background` (periodic work), `dirlock`
//! (processes sharing a directory), `shared` (limits over the whole directory, kept
//! current through `journal` of `record`s; `listing` finds what changed behind it), `usage`
//! (the directory's size for stats), `lease` (builds in flight across processes), `state`
//! (the read-only "cached / building / absent" query), `clock` (injected time).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::artifact::{Artifact, Source};
use crate::config::{CacheConfig, EvictionPolicy};
use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::request::{BuildRequest, CacheKey};
use crate::stats::Stats;

mod access;
mod background;
mod clock;
pub mod content;
mod dirlock;
mod evict;
mod index;
pub mod inspect;
mod journal;
pub(crate) mod layout;
pub mod lease;
mod listing;
mod meta;
pub(crate) mod open;
mod record;
mod recover;
mod rehash;
mod reverify;
mod shared;
pub mod state;
mod store;
mod survey;
mod usage;

pub use clock::{Clock, ManualClock, SystemClock};
pub use meta::Metadata;
pub use store::Ingest;
pub use usage::DirUsage;

use background::Background;
use dirlock::{DirLock, StoreLock};
use evict::Limits;
use index::{Entry, Index};

pub struct Cache {
    inner: Arc<Inner>,
    background: Mutex<Option<Background>>,
    rehash: Mutex<Option<rehash::Rehash>>,
}

/// What can be swapped for tests (or unusual filesystems).
#[derive(Clone)]
pub struct CacheOptions {
    pub clock: Arc<dyn Clock>,
    pub ingest: Ingest,
    /// Check entries written without provenance (before verification, or by the seed
    /// plugin) once in the background, moving a mismatch aside (`reverify`). Off by
    /// default: the engine turns it on with `verify_builds`; tools that only look at or
    /// prune a directory leave it off.
    pub verify_builds: bool,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            clock: Arc::new(SystemClock),
            ingest: Ingest::default(),
            verify_builds: false,
        }
    }
}

/// Current size of the cache, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub bytes: u64,
}

pub(crate) struct Inner {
    dir: PathBuf,
    policy: EvictionPolicy,
    limits: Limits,
    /// 0 = entries never expire.
    max_age_secs: i64,
    access_interval: Duration,
    cleanup_interval: Duration,
    verify_builds: bool,
    stats: Arc<Stats>,
    clock: Arc<dyn Clock>,
    ingest: Ingest,
    index: RwLock<Index>,
    /// This process's place in the directory's journal (`shared`).
    journal: Mutex<shared::View>,
    /// The journal to append to without the store lock (access statistics, hints).
    appender: Mutex<Option<Arc<journal::Journal>>>,
    /// Serialises metadata writes and deletions in this process (commits, access
    /// flushes, removals) so that none of them resurrects what another just removed.
    meta_lock: Mutex<()>,
    ticks: AtomicU64,
    /// Bumped whenever a reservation ends; stores waiting for room sleep on it.
    reservations: Mutex<u64>,
    reservation_done: Condvar,
}

/// Longest a store waits for other stores to free promised room.
const RESERVE_WAIT: Duration = Duration::from_secs(60);

impl Cache {
    /// Opens (creating if needed) the directory, loads the index and cleans up leftovers.
    pub fn open(cfg: &CacheConfig, stats: Arc<Stats>) -> Result<Cache> {
        Cache::open_with(cfg, stats, CacheOptions::default())
    }

    pub fn open_with(cfg: &CacheConfig, stats: Arc<Stats>, opts: CacheOptions) -> Result<Cache> {
        let io_err = |what: &str, e| {
            Error::io(
                format!("cache.directory {}: {what}", cfg.directory.display()),
                e,
            )
        };
        fs::create_dir_all(&cfg.directory).map_err(|e| io_err("cannot create", e))?;
        let dir = fs::canonicalize(&cfg.directory).map_err(|e| io_err("cannot resolve", e))?;

        let inner = Arc::new(Inner {
            dir,
            policy: cfg.eviction_policy,
            limits: Limits {
                max_bytes: cfg.max_size_bytes,
                max_entries: cfg.max_entries,
            },
            max_age_secs: i64::try_from(cfg.max_age.as_secs()).unwrap_or(i64::MAX),
            access_interval: cfg.access_update_interval,
            cleanup_interval: cfg.cleanup_interval,
            verify_builds: opts.verify_builds,
            stats,
            clock: opts.clock,
            ingest: opts.ingest,
            index: RwLock::new(Index::default()),
            journal: Mutex::new(shared::View::default()),
            appender: Mutex::new(None),
            meta_lock: Mutex::new(()),
            ticks: AtomicU64::new(1),
            reservations: Mutex::new(0),
            reservation_done: Condvar::new(),
        });

        inner.load().map_err(|e| io_err("cannot read", e))?;
        let background = Background::start(inner.clone());
        let rehash = rehash::Rehash::start(inner.clone());
        Ok(Cache {
            inner,
            background: Mutex::new(background),
            rehash: Mutex::new(rehash),
        })
    }

    /// The directory, canonical.
    pub fn directory(&self) -> &Path {
        &self.inner.dir
    }

    /// The largest binary an entry can hold (`max_size`), `None` when unbounded: what a
    /// fill from elsewhere (the remote tier) checks before and while it downloads.
    pub fn max_entry_bytes(&self) -> Option<u64> {
        let max = self.inner.limits.max_bytes;
        (max > 0).then_some(max)
    }

    /// A hit returns an artifact with `Source::CacheHit`; a miss `Ok(None)`. A hit reads
    /// the index and opens the binary: no metadata parse, no write. A key unknown here is
    /// looked up on disk too (another process may share the directory).
    pub fn lookup(&self, key: &CacheKey) -> Result<Option<Artifact>> {
        let inner = &*self.inner;
        let indexed = inner.index.read().get(key);
        let was_indexed = indexed.is_some();
        if let Some(entry) = indexed {
            match open::binary(&entry.bin_path, entry.size) {
                Ok(Some(file)) => {
                    let sha256 = ensure_hash(&entry, &file).map_err(|e| {
                        Error::io(format!("cache: hash {}", entry.bin_path.display()), e)
                    })?;
                    access::record_hit(inner, &entry);
                    return Ok(Some(Artifact {
                        file: Arc::new(file),
                        path: entry.bin_path.clone(),
                        size: entry.size,
                        key: key.clone(),
                        sha256,
                        source: Source::CacheHit,
                    }));
                }
                Ok(None) => {
                    tracing::debug!(key = %key, "cached binary vanished or changed underneath");
                    inner.index.write().remove_exact(&entry);
                    shared::note(inner, &[record::Record::of_key(record::Kind::Verify, key)]);
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cache: open {}", entry.bin_path.display()),
                        e,
                    ))
                }
            }
        }
        if !was_indexed {
            // Another process may have stored it: its journal record says so without a
            // metadata read.
            shared::peek(inner, key);
            if inner.index.read().get(key).is_some() {
                return self.lookup(key);
            }
        }
        inner.lookup_on_disk(key)
    }

    /// Takes the file at `src` into the cache (a copy of its own, hashed) and returns it
    /// open, with `Source::Built`. Room is made first, so the limits always hold. A
    /// binary larger than `max_size` is not stored: the artifact is the source file
    /// itself. `src` is opened without following a symbolic link and without blocking on
    /// a FIFO; anything but a regular file is `UnsafePath`. On error nothing of the
    /// entry is left and the source is untouched.
    pub fn store(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        src: &Path,
        build_duration_ms: u64,
    ) -> Result<Artifact> {
        let (file, _) = open::open_regular(src).map_err(|e| {
            if open::is_not_regular(&e) {
                Error::UnsafePath {
                    path: src.to_path_buf(),
                    reason: "a symbolic link or not a regular file".into(),
                }
            } else {
                Error::io(format!("cache: open {}", src.display()), e)
            }
        })?;
        self.inner
            .store(req, key, &file, src, build_duration_ms, None)
    }

    /// [`Cache::store`] of a file already open (and checked) by the caller: the entry is
    /// made of a copy of exactly this inode, whatever happens to `src_path` meanwhile.
    /// The copy reads with positional reads, so `src`'s offset is not moved. `src_path` is only reported (and is the artifact's
    /// path when the binary is not cached).
    pub fn store_file(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        src: &File,
        src_path: &Path,
        build_duration_ms: u64,
    ) -> Result<Artifact> {
        self.inner
            .store(req, key, src, src_path, build_duration_ms, None)
    }

    /// [`Cache::store_file`] of a binary verified against `req`: the entry's metadata
    /// records what the verification found (`provenance`).
    pub fn store_verified(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        src: &File,
        src_path: &Path,
        build_duration_ms: u64,
        provenance: Option<&Provenance>,
    ) -> Result<Artifact> {
        self.inner
            .store(req, key, src, src_path, build_duration_ms, provenance)
    }

    /// `Ok(false)` when there was no such entry. Artifacts handed out stay readable.
    pub fn remove(&self, key: &CacheKey) -> Result<bool> {
        self.inner
            .take_out(key, None, Disposal::Delete)
            .map_err(|e| Error::io(format!("cache: remove {key}"), e))
    }

    /// Re-reads the directory (sweeping leftovers when no commit is in progress
    /// anywhere), then applies the age, size and count limits now.
    pub fn cleanup(&self) -> Result<()> {
        self.inner.cleanup()
    }

    /// Waits until the entries found without a content hash (written by the seed plugin)
    /// are hashed and their metadata rewritten, and, with `verify_builds`, those found
    /// without provenance are verified; returns at once when there were none.
    /// Hosts never need this (a hit hashes its entry itself); tests that look at the
    /// directory right after open do.
    pub fn wait_hashed(&self) {
        if let Some(r) = self.rehash.lock().take() {
            r.finish();
        }
    }

    /// Writes pending access statistics.
    pub fn flush(&self) -> Result<()> {
        access::flush(&self.inner).map_err(|e| Error::io("cache: flush access statistics", e))
    }

    pub fn usage(&self) -> Usage {
        let index = self.inner.index.read();
        Usage {
            entries: index.len(),
            bytes: index.bytes(),
        }
    }

    /// The whole directory (every process sharing it) as of the last store or cleanup in
    /// any process; `None` before the first. [`Cache::usage`] is this process's index.
    pub fn directory_usage(&self) -> Option<DirUsage> {
        usage::read(&self.inner.dir)
    }

    /// Stops background work and flushes; later calls still work but nothing runs behind.
    pub fn close(&self) {
        if let Some(r) = self.rehash.lock().take() {
            r.stop();
        }
        if let Some(bg) = self.background.lock().take() {
            bg.stop();
        }
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "access statistics not flushed at close");
        }
    }
}

/// Files met in cache directories, by this process, that were not what the cache writes
/// there (links, FIFOs, directories, oversized leases...): see `open`.
pub fn foreign_files() -> u64 {
    open::foreign_files()
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.close();
    }
}

/// What [`Inner::take_out`] does with an entry's files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Disposal {
    Delete,
    /// Into `layout::MISMATCHED_DIR`, for the operator to look at.
    MoveAside,
}

impl Inner {
    fn tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed)
    }

    /// Removes `key`'s entry the way every removal goes: under the store lock, announced
    /// in the journal and noted there, so other processes sharing the directory drop it.
    /// With `only`, nothing happens unless that very entry is still the indexed one
    /// (a store may have replaced it meanwhile). `Ok(false)`: there was nothing to take.
    fn take_out(
        &self,
        key: &CacheKey,
        only: Option<&Arc<Entry>>,
        disposal: Disposal,
    ) -> io::Result<bool> {
        let store_lock = StoreLock::exclusive(&self.dir)?;
        shared::catch_up(self, false, &store_lock)?;
        if let Some(entry) = only {
            let current = self.index.read().get(key);
            if !current.is_some_and(|c| Arc::ptr_eq(&c, entry)) {
                return Ok(false);
            }
        }
        let journal = shared::announce(self, [key], &store_lock)?;
        let indexed = self.index.write().remove(key);
        let _meta = self.meta_lock.lock();
        let (json, bin) = (
            layout::json_path(&self.dir, key),
            layout::bin_path(&self.dir, key),
        );
        // The metadata goes first: without it the binary is no entry for anyone.
        let removed = match disposal {
            Disposal::Delete => {
                let json = layout::remove_if_exists(&json)?;
                let bin = layout::remove_if_exists(&bin)?;
                json || bin
            }
            Disposal::MoveAside => {
                let aside = self.dir.join(layout::MISMATCHED_DIR);
                fs::create_dir_all(&aside)?;
                let json = layout::rename_if_exists(&json, &aside)?;
                let bin = layout::rename_if_exists(&bin, &aside)?;
                json || bin
            }
        } || indexed.is_some();
        drop(_meta);
        shared::note(self, &[record::Record::of_key(record::Kind::Evict, key)]);
        drop((journal, store_lock));
        if removed {
            self.stats.eviction(match disposal {
                Disposal::Delete => crate::stats::EvictReason::Manual,
                Disposal::MoveAside => crate::stats::EvictReason::Mismatch,
            });
        }
        Ok(removed)
    }

    fn lookup_on_disk(&self, key: &CacheKey) -> Result<Option<Artifact>> {
        let meta = match meta::Metadata::load(&self.dir, key) {
            Ok(meta) => meta,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                tracing::debug!(key = %key, error = %e, "unreadable cache metadata: a miss");
                return Ok(None);
            }
        };
        let bin = layout::bin_path(&self.dir, key);
        let size = meta.file_size;
        let file = match open::binary(&bin, size) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Error::io(format!("cache: open {}", bin.display()), e)),
        };
        let fresh = Arc::new(Entry::new(key.clone(), bin.clone(), meta, self.tick()));
        // Hashed before it is indexed, so an indexed entry's hash is always of its bytes.
        let sha256 = ensure_hash(&fresh, &file)
            .map_err(|e| Error::io(format!("cache: hash {}", bin.display()), e))?;
        let entry = {
            let mut index = self.index.write();
            match index.get(key) {
                // Indexed meanwhile: its statistics count the hit; the artifact keeps
                // the hash of the file it serves.
                Some(current) => current,
                None => {
                    index.insert(fresh.clone());
                    fresh
                }
            }
        };
        // Not in the journal (written behind it): the next holder of the store lock
        // reads it, so every process counts it against the limits.
        tracing::debug!(key = %key, "cache entry found on disk, unknown to the journal");
        shared::note(self, &[record::Record::of_key(record::Kind::Verify, key)]);
        access::record_hit(self, &entry);
        Ok(Some(Artifact {
            file: Arc::new(file),
            path: bin,
            size,
            key: key.clone(),
            sha256,
            source: Source::CacheHit,
        }))
    }

    fn store(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        src: &File,
        src_path: &Path,
        build_ms: u64,
        provenance: Option<&Provenance>,
    ) -> Result<Artifact> {
        let src_meta = src
            .metadata()
            .map_err(|e| Error::io(format!("cache: stat {}", src_path.display()), e))?;
        if !src_meta.is_file() {
            return Err(Error::io(
                format!("cache: store {}", src_path.display()),
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        let size = src_meta.len();
        if self.limits.max_bytes > 0 && size > self.limits.max_bytes {
            tracing::warn!(
                key = %key,
                size,
                max_size_bytes = self.limits.max_bytes,
                "binary larger than the whole cache: served without caching"
            );
            return uncached(src, src_path, key, size);
        }

        // Admission against this process's other stores in progress. No victim is chosen
        // here: which entries go from the directory is decided under the store lock,
        // over every process's entries (`shared`).
        let Some(reservation) = self.make_room_for(key, size) else {
            tracing::warn!(
                key = %key,
                size,
                "no room in the cache while other stores are in progress: served without caching"
            );
            return uncached(src, src_path, key, size);
        };

        let facts = BuildFacts {
            ms: build_ms,
            provenance,
        };
        match self.ingest_and_commit(req, key, src, size, facts, reservation) {
            Ok((file, sha256, reflinked)) => {
                tracing::info!(key = %key, size, reflinked, sha256 = %sha256, build_duration_ms = build_ms, "binary cached");
                Ok(Artifact {
                    file: Arc::new(file),
                    path: layout::bin_path(&self.dir, key),
                    size,
                    key: key.clone(),
                    sha256,
                    source: Source::Built,
                })
            }
            Err(e) => {
                tracing::warn!(key = %key, src = %src_path.display(), error = %e, "could not store in the cache");
                Err(Error::io(
                    format!("cache: store {key} in {}", self.dir.display()),
                    e,
                ))
            }
        }
    }

    /// Reserves `size` if evictions can make room for it (which ones is decided under the
    /// store lock). When only the room promised to stores in progress is missing, waits
    /// for them (they commit or fail soon) rather than leave this build uncached; gives
    /// up after `RESERVE_WAIT`.
    fn make_room_for(&self, key: &CacheKey, size: u64) -> Option<Reservation<'_>> {
        let give_up = std::time::Instant::now() + RESERVE_WAIT;
        loop {
            let seen = *self.reservations.lock();
            {
                let mut index = self.index.write();
                // A store under a key already present replaces it (force_rebuild).
                let replaced = index.remove(key);
                if evict::room_possible(&index, self.limits, 1, size) {
                    index.reserve(size);
                    return Some(Reservation {
                        inner: self,
                        size,
                        done: false,
                    });
                }
                if let Some(r) = replaced {
                    index.insert(r);
                }
            }
            let mut generation = self.reservations.lock();
            if *generation == seen
                && self
                    .reservation_done
                    .wait_until(&mut generation, give_up)
                    .timed_out()
            {
                return None;
            }
        }
    }

    /// Wakes stores waiting for room.
    fn reservation_changed(&self) {
        *self.reservations.lock() += 1;
        self.reservation_done.notify_all();
    }

    fn ingest_and_commit(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        src: &File,
        size: u64,
        facts: BuildFacts<'_>,
        reservation: Reservation<'_>,
    ) -> io::Result<(File, String, bool)> {
        let _dir = DirLock::shared(&self.dir)?;
        let ingested = store::ingest(&self.dir, src, self.ingest)?;
        if ingested.size != size {
            return Err(io::Error::other(format!(
                "source changed while being stored ({size} bytes, then {})",
                ingested.size
            )));
        }
        let reflinked = ingested.reflinked;
        let sha256 = ingested.sha256.clone();
        // One store or cleanup at a time across every process sharing the directory:
        // victims are chosen over all of its entries, and deleted before the commit.
        let store_lock = StoreLock::exclusive(&self.dir)?;
        let victims = shared::consistent_victims(self, key, &store_lock)?;
        let mut meta =
            meta::Metadata::new(req, key, size, self.clock.now(), facts.ms, sha256.clone());
        meta.provenance = facts.provenance.cloned();
        let touched = victims.iter().map(|v| &v.entry.key).chain([key]);
        let journal = match shared::announce(self, touched, &store_lock) {
            Ok(j) => j,
            Err(e) => {
                self.index
                    .write()
                    .restore(victims.into_iter().map(|v| v.entry));
                return Err(e);
            }
        };
        let _meta = self.meta_lock.lock();
        evict::delete_victims(&self.dir, &victims, &self.stats);
        let committed = store::commit(&self.dir, ingested, &meta, key);
        let file = match committed {
            Ok(file) => file,
            Err(e) => {
                shared::done(&journal, &victims, None);
                return Err(e);
            }
        };
        let entry = Arc::new(Entry::new(
            key.clone(),
            layout::bin_path(&self.dir, key),
            meta,
            self.tick(),
        ));
        shared::done(&journal, &victims, Some(&entry));
        reservation.fulfil(entry);
        shared::record_usage(self, &store_lock);
        Ok((file, sha256, reflinked))
    }

    /// At open: the journal (or the directory, when there is none yet), then a listing of
    /// names only to find what changed behind it; leftovers are swept when no commit is
    /// in progress anywhere.
    fn load(&self) -> io::Result<()> {
        // The listing (system calls) and reading the journal (memory) overlap.
        let (mut listing, store_lock, sweep, mut found) = std::thread::scope(|s| {
            let listing = s.spawn(|| listing::list(&self.dir, false));
            let locked = (|| {
                let store_lock = StoreLock::exclusive(&self.dir)?;
                // Not blocking: the store lock is held, and commits take this one first.
                let sweep = DirLock::try_exclusive(&self.dir)?;
                let found = shared::catch_up(self, sweep.is_some(), &store_lock)?;
                Ok::<_, io::Error>((store_lock, sweep, found))
            })();
            let listing = listing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let (store_lock, sweep, found) = locked?;
            Ok::<_, io::Error>((listing?, store_lock, sweep, found))
        })?;
        let sweep_held = sweep.is_some();
        found += shared::settle_listing(self, &mut listing, sweep.is_some(), &store_lock);
        if sweep.is_some() {
            found.temp_files += recover::sweep_temps(&listing.temps);
        }
        drop(sweep);
        {
            let index = self.index.read();
            tracing::info!(
                directory = %self.dir.display(),
                entries = index.len(),
                bytes = index.bytes(),
                temp_files = found.temp_files,
                orphans = found.orphans,
                corrupt = found.corrupt,
                swept = sweep_held,
                policy = ?self.policy,
                "cache opened"
            );
        }
        // A directory written under other limits (or by the seed, which enforced them
        // only periodically) is brought within ours before the first store.
        self.apply_limits_locked(&store_lock);
        shared::record_usage(self, &store_lock);
        drop(store_lock);
        match lease::sweep_dead_among(&self.dir, &listing.leases) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "stale build leases removed at open"),
            Err(e) => tracing::warn!(error = %e, "build leases not checked at open"),
        }
        Ok(())
    }

    /// Lists the directory (names and binaries' sizes, no metadata read) to find what
    /// changed behind the journal, sweeping leftovers when no commit is in progress
    /// anywhere, then applies the age, size and count limits.
    fn cleanup(&self) -> Result<()> {
        let io_err = |e| Error::io(format!("cache: cleanup of {}", self.dir.display()), e);
        let mut listing = listing::list(&self.dir, true).map_err(io_err)?;
        let sweep = DirLock::try_exclusive(&self.dir).map_err(io_err)?;
        if sweep.is_none() {
            tracing::debug!("a commit is in progress: directory sweep skipped this time");
        }
        let store_lock = StoreLock::exclusive(&self.dir).map_err(io_err)?;
        shared::catch_up(self, sweep.is_some(), &store_lock).map_err(io_err)?;
        shared::settle_listing(self, &mut listing, sweep.is_some(), &store_lock);
        if sweep.is_some() {
            recover::sweep_temps(&listing.temps);
        }
        drop(sweep);
        self.apply_limits_locked(&store_lock);
        shared::record_usage(self, &store_lock);
        Ok(())
    }

    /// Makes the index agree with what the directory holds (other processes store and
    /// evict too). Runs under the exclusive directory lock or the store lock: either way
    /// no commit is half done.
    fn reconcile(&self, on_disk: Vec<(CacheKey, meta::Metadata)>) {
        let mut index = self.index.write();
        let mut seen = std::collections::HashSet::with_capacity(on_disk.len());
        let (mut added, mut dropped) = (0u64, 0u64);
        for (key, meta) in on_disk {
            seen.insert(key.clone());
            match index.get(&key) {
                // The same entry: take the access statistics others flushed.
                Some(e) if e.created_at == meta.created_at && e.size == meta.file_size => {
                    shared::merge_access(&e, &meta);
                }
                // New, or replaced by another process's store of the same key.
                _ => {
                    let bin = layout::bin_path(&self.dir, &key);
                    index.insert(Arc::new(Entry::new(key, bin, meta, 0)));
                    added += 1;
                }
            }
        }
        let gone: Vec<Arc<Entry>> = index
            .iter()
            .filter(|e| !seen.contains(&e.key))
            .cloned()
            .collect();
        for e in &gone {
            dropped += u64::from(index.remove_exact(e));
        }
        if added + dropped > 0 {
            tracing::info!(added, dropped, "cache index reconciled with the directory");
        }
    }

    /// Under the store lock (a store in another process must not commit between our view
    /// and our deletions), after the index caught up with the journal.
    fn apply_limits_locked(&self, lock: &StoreLock) {
        let (expired, over) = {
            let mut index = self.index.write();
            let expired = if self.max_age_secs > 0 {
                evict::take_expired(&mut index, self.clock.now(), self.max_age_secs)
            } else {
                Vec::new()
            };
            let over =
                evict::make_room(&mut index, self.policy, self.limits, 0, 0).unwrap_or_default();
            (expired, over)
        };
        if expired.is_empty() && over.is_empty() {
            return;
        }
        let touched = expired.iter().chain(&over).map(|v| &v.entry.key);
        let journal = match shared::announce(self, touched, lock) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "cache: journal not writable; limits applied at the next store");
                let mut index = self.index.write();
                index.restore(expired.into_iter().chain(over).map(|v| v.entry));
                return;
            }
        };
        let _meta = self.meta_lock.lock();
        evict::delete_victims(&self.dir, &expired, &self.stats);
        evict::delete_victims(&self.dir, &over, &self.stats);
        shared::done(&journal, &expired, None);
        shared::done(&journal, &over, None);
        tracing::info!(
            expired = expired.len(),
            over_limit = over.len(),
            "cache cleanup evicted entries"
        );
    }
}

/// Room promised to one store; given back on drop unless the entry was committed.
struct Reservation<'a> {
    inner: &'a Inner,
    size: u64,
    done: bool,
}

impl Reservation<'_> {
    /// Swaps the promise for the committed entry in one step, so the limits hold
    /// at every instant.
    fn fulfil(mut self, entry: Arc<Entry>) {
        {
            let mut index = self.inner.index.write();
            index.release(self.size);
            index.insert(entry);
        }
        self.done = true;
        self.inner.reservation_changed();
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.inner.index.write().release(self.size);
            self.inner.reservation_changed();
        }
    }
}

/// The entry's content hash; an entry the seed wrote without one is hashed now, from
/// the descriptor about to be served, and the hash is written with the next metadata
/// write (the access statistics of this very hit).
fn ensure_hash(entry: &Entry, file: &File) -> io::Result<String> {
    if let Some(h) = entry.sha256.get() {
        return Ok(h.clone());
    }
    let (h, _) = content::hash_file(file)?;
    Ok(entry.sha256.get_or_init(|| h).clone())
}

/// The source file itself, when it cannot or should not be cached; hashed so that the
/// host still gets an ETag that names the bytes.
fn uncached(src: &File, src_path: &Path, key: &CacheKey, size: u64) -> Result<Artifact> {
    let file = src
        .try_clone()
        .map_err(|e| Error::io(format!("dup {}", src_path.display()), e))?;
    let (sha256, _) = content::hash_file(&file)
        .map_err(|e| Error::io(format!("hash {}", src_path.display()), e))?;
    Ok(Artifact {
        file: Arc::new(file),
        path: src_path.to_path_buf(),
        size,
        key: key.clone(),
        sha256,
        source: Source::Built,
    })
}

/// What an entry's metadata records about its build, beside the request.
#[derive(Clone, Copy)]
struct BuildFacts<'a> {
    ms: u64,
    provenance: Option<&'a Provenance>,
}
