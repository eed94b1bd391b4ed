//! Limits over the whole directory, whichever process wrote or read its entries.
//!
//! Each process indexes the directory in memory, and every change to the directory is
//! also appended to its journal (`journal`). The step that decides what to evict and
//! commits a new entry runs under the exclusive store lock (`dirlock::StoreLock`), one at
//! a time across all processes, and starts by applying what the journal gained since
//! this process last looked: other processes' stores, evictions and access statistics.
//! Victims are then chosen by the policy over that view, so the limits hold for the
//! directory at a cost that follows the changes, not the number of entries
//! (docs/decisions: directory index).
//!
//! What the journal may have missed is looked at on disk, key by key: a writer appends
//! `Verify` for the keys it is about to touch before touching them, so one killed
//! halfway leaves them named, and the next holder of the lock reads their files. Entries
//! added or removed behind every process's back (the seed plugin, a person) are found
//! by the listing that open and cleanup make (`listing`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;

use super::dirlock::StoreLock;
use super::evict::{self, Victim};
use super::index::{Entry, Index};
use super::journal::{Journal, OpenError, HEADER_LEN};
use super::listing::Listing;
use super::record::{Kind, Record, RECORD_LEN};
use super::recover::{self, Problems};
use super::usage::{self, DirUsage};
use super::{layout, Inner};
use crate::request::CacheKey;

/// This process's place in the directory's journal.
#[derive(Default)]
pub(crate) struct View {
    journal: Option<Arc<Journal>>,
    /// Everything before it has been applied to the index.
    offset: u64,
    /// Keys named for checking that no later record settled yet.
    pending: HashSet<CacheKey>,
}

/// The journal grows to this many records beyond twice the live entries before it is
/// compacted (rewritten as one record per entry).
const SLACK_RECORDS: u64 = 4096;

/// Brings the index up to date with the journal (rebuilding the journal from the
/// directory when it is missing or unusable) and settles what it names for checking.
/// `sweep`: the caller holds the exclusive directory lock, so leftovers of a dead
/// writer may be deleted.
pub(crate) fn catch_up(inner: &Inner, sweep: bool, _lock: &StoreLock) -> io::Result<Problems> {
    let mut view = inner.journal.lock();
    let mut from_start = false;
    if !view
        .journal
        .as_ref()
        .is_some_and(|j| j.is_current(&inner.dir))
    {
        match Journal::open(&inner.dir) {
            Ok(j) => {
                set_journal(inner, &mut view, Arc::new(j), HEADER_LEN);
                from_start = true;
            }
            Err(OpenError::Io(e)) => return Err(e),
            Err(OpenError::Missing) => {
                tracing::info!("cache journal missing: built from the directory");
                return rebuild(inner, &mut view, sweep);
            }
            Err(OpenError::Invalid(why)) => {
                tracing::warn!(reason = %why, "cache journal unusable: rebuilt from the directory");
                return rebuild(inner, &mut view, sweep);
            }
        }
    }
    let journal = view.journal.clone().expect("set above");
    let tail = journal.read_from(view.offset)?;
    let mut check = std::mem::take(&mut view.pending);
    apply(inner, &tail.records, from_start, &mut check);
    view.offset = tail.end;
    if tail.skipped > 0 {
        // A record may be lost: look at every entry's names, then start a clean file.
        tracing::warn!(
            skipped_bytes = tail.skipped,
            "cache journal: unreadable records skipped; the directory is listed and the journal rewritten"
        );
        let mut listing = super::listing::list(&inner.dir, true)?;
        check.extend(listing.suspects(&inner.index.read()));
        let found = settle(inner, &journal, &check, sweep);
        compact(inner, &mut view)?;
        return Ok(found);
    }
    let found = settle(inner, &journal, &check, sweep);
    let records = journal.len()?.saturating_sub(HEADER_LEN) / RECORD_LEN as u64;
    if records > 2 * inner.index.read().len() + SLACK_RECORDS {
        compact(inner, &mut view)?;
    }
    Ok(found)
}

/// The keys a listing found different from the index, looked at and settled (after
/// [`catch_up`], under the same lock).
pub(crate) fn settle_listing(
    inner: &Inner,
    listing: &mut Listing,
    sweep: bool,
    _lock: &StoreLock,
) -> Problems {
    let check = listing.suspects(&inner.index.read());
    if check.is_empty() {
        return Problems::default();
    }
    tracing::info!(
        keys = check.len(),
        "cache entries changed behind the index: looked at on disk"
    );
    match inner.journal.lock().journal.clone() {
        Some(journal) => settle(inner, &journal, &check, sweep),
        None => Problems::default(),
    }
}

/// Reads the files of `keys`, puts the index in agreement and records the outcome for
/// every process (a failed append only delays other processes' knowledge: the keys
/// stay named by their `Verify` records).
fn settle(inner: &Inner, journal: &Journal, keys: &HashSet<CacheKey>, sweep: bool) -> Problems {
    if keys.is_empty() {
        return Problems::default();
    }
    let scan = recover::scan_keys(&inner.dir, keys, sweep);
    let mut present: HashMap<CacheKey, super::meta::Metadata> = scan.valid.into_iter().collect();
    let mut records = Vec::with_capacity(keys.len());
    {
        let mut index = inner.index.write();
        for key in keys {
            match present.remove(key) {
                Some(meta) => {
                    let found = Entry::new(key.clone(), layout::bin_path(&inner.dir, key), meta, 0);
                    let r = found.record(Kind::Store);
                    match index.get(key) {
                        Some(e) if e.is(&r) => e.merge(&r),
                        _ => {
                            index.insert(Arc::new(found));
                        }
                    }
                    records.push(r);
                }
                None => {
                    index.remove(key);
                    records.push(Record::of_key(Kind::Evict, key));
                }
            }
        }
    }
    if let Err(e) = journal.append(&records) {
        tracing::warn!(error = %e, "cache journal: checked entries not recorded");
    }
    scan.problems
}

/// Without the store lock, for a lookup of `key` that missed: learns from the journal
/// whether another process stored `key`, and forgets what other processes evicted (so
/// that this process never reports more entries than the limit). The rest, and keys
/// named for checking, wait for the next holder of the lock, which reads from the same
/// place again (records apply the same way twice).
pub(crate) fn peek(inner: &Inner, key: &CacheKey) {
    let (journal, offset) = {
        let Some(view) = inner.journal.try_lock() else {
            return;
        };
        match view.journal.clone() {
            Some(j) if j.is_current(&inner.dir) => (j, view.offset),
            _ => return,
        }
    };
    let Ok(tail) = journal.read_from(offset) else {
        return;
    };
    if tail.skipped > 0 {
        return;
    }
    let mut index = inner.index.write();
    let none = HashMap::new();
    for r in &tail.records {
        match r.kind {
            Kind::Evict => {
                index.remove(&r.key);
            }
            Kind::Store if r.key == *key => store(inner, &mut index, &none, r),
            _ => {}
        }
    }
}

/// Applies journal records to the index; `check` gains the keys named for checking and
/// loses those a later record settled. `from_start`: the records are the whole journal
/// (a new file), so entries they do not name are dropped; entries they describe keep
/// their `Arc` (and this process's unflushed access counts).
fn apply(inner: &Inner, records: &[Record], from_start: bool, check: &mut HashSet<CacheKey>) {
    let mut index = inner.index.write();
    let known = if from_start {
        index.take_entries()
    } else {
        HashMap::new()
    };
    for r in records {
        match r.kind {
            Kind::Store => {
                check.remove(&r.key);
                store(inner, &mut index, &known, r);
            }
            Kind::Evict => {
                check.remove(&r.key);
                index.remove(&r.key);
            }
            Kind::Access => {
                if let Some(e) = index.get(&r.key).filter(|e| e.is(r)) {
                    e.merge(r);
                }
            }
            Kind::Verify => {
                check.insert(r.key.clone());
            }
        }
    }
}

fn store(inner: &Inner, index: &mut Index, known: &HashMap<CacheKey, Arc<Entry>>, r: &Record) {
    if let Some(e) = index.get(&r.key).filter(|e| e.is(r)) {
        e.merge(r);
        return;
    }
    match known.get(&r.key).filter(|e| e.is(r)) {
        Some(e) => {
            e.merge(r);
            index.insert(e.clone());
        }
        None => {
            index.insert(Arc::new(Entry::from_record(&inner.dir, r)));
        }
    }
}

/// The whole directory read again (every metadata file), then written as a new journal.
fn rebuild(inner: &Inner, view: &mut View, sweep: bool) -> io::Result<Problems> {
    view.pending.clear();
    let scan = recover::scan(&inner.dir, sweep)?;
    tracing::info!(entries = scan.valid.len(), "cache directory read in full");
    inner.reconcile(scan.valid);
    compact(inner, view)?;
    Ok(scan.problems)
}

/// Rewrites the journal as one record per entry of the index (which has just caught up).
fn compact(inner: &Inner, view: &mut View) -> io::Result<()> {
    let records: Vec<Record> = inner
        .index
        .read()
        .iter()
        .map(|e| e.record(Kind::Store))
        .collect();
    let journal = Journal::replace(&inner.dir, &records)?;
    let end = journal.len()?;
    tracing::debug!(entries = records.len(), "cache journal compacted");
    set_journal(inner, view, Arc::new(journal), end);
    Ok(())
}

fn set_journal(inner: &Inner, view: &mut View, journal: Arc<Journal>, offset: u64) {
    *inner.appender.lock() = Some(journal.clone());
    view.journal = Some(journal);
    view.offset = offset;
}

/// Write-ahead: names `keys` in the journal before their files are touched, so that a
/// writer killed halfway leaves them for the next holder of the lock to look at. An
/// error means nothing may be touched.
pub(crate) fn announce<'a>(
    inner: &Inner,
    keys: impl IntoIterator<Item = &'a CacheKey>,
    _lock: &StoreLock,
) -> io::Result<Arc<Journal>> {
    let journal = inner
        .journal
        .lock()
        .journal
        .clone()
        .ok_or_else(|| io::Error::other("cache journal not open"))?;
    let records: Vec<Record> = keys
        .into_iter()
        .map(|k| Record::of_key(Kind::Verify, k))
        .collect();
    journal.append(&records)?;
    Ok(journal)
}

/// Records what was done after [`announce`]: evictions, then the committed entry.
pub(crate) fn done(journal: &Journal, victims: &[Victim], stored: Option<&Entry>) {
    let records: Vec<Record> = victims
        .iter()
        .map(|v| Record::of_key(Kind::Evict, &v.entry.key))
        .chain(stored.map(|e| e.record(Kind::Store)))
        .collect();
    if let Err(e) = journal.append(&records) {
        tracing::warn!(error = %e, "cache journal: change not recorded; other processes look at the files");
    }
}

/// Appends records that need no lock (access statistics, lookups' hints); best effort.
pub(crate) fn note(inner: &Inner, records: &[Record]) {
    let journal = {
        let mut appender = inner.appender.lock();
        // Another process may have compacted the journal since this one caught up: append
        // to the file every process reads (a process that only serves hits may not take
        // the store lock for a long time).
        if appender.as_ref().is_some_and(|j| !j.is_current(&inner.dir)) {
            *appender = Journal::open(&inner.dir).ok().map(Arc::new);
        }
        appender.clone()
    };
    if let Some(j) = journal {
        if let Err(e) = j.append(records) {
            tracing::debug!(error = %e, "cache journal: note not appended");
        }
    }
}

/// Brings the index up to date and takes out of it what must go for the room reserved
/// by stores in progress (this one's, for `storing`, included) to fit. The caller
/// deletes the victims' files before committing, still under `lock`.
pub(crate) fn consistent_victims(
    inner: &Inner,
    storing: &CacheKey,
    lock: &StoreLock,
) -> io::Result<Vec<Victim>> {
    catch_up(inner, false, lock)?;
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
/// the directory as the journal knows it, recorded for every process's stats.
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
