//! Which entries go when a limit is reached: the policies and the limits themselves.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::index::{Entry, Index};
use super::layout;
use crate::config::EvictionPolicy;
use crate::stats::{EvictReason, Stats};

/// An entry taken out of the index, and the limit that made it go.
#[derive(Debug, Clone)]
pub(crate) struct Victim {
    pub entry: Arc<Entry>,
    pub reason: EvictReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// 0 = unlimited.
    pub max_bytes: u64,
    /// 0 = unlimited.
    pub max_entries: u64,
}

impl Limits {
    pub(crate) fn fit(&self, entries: u64, bytes: u64) -> bool {
        (self.max_bytes == 0 || bytes <= self.max_bytes)
            && (self.max_entries == 0 || entries <= self.max_entries)
    }

    /// Which limit `entries`/`bytes` break; the count when both are.
    fn broken(&self, entries: u64) -> EvictReason {
        if self.max_entries > 0 && entries > self.max_entries {
            EvictReason::Count
        } else {
            EvictReason::Size
        }
    }
}

/// The fields a policy looks at, read once so that a sort sees a consistent view.
#[derive(Debug, Clone)]
struct Rank {
    created_at: i64,
    created_tick: u64,
    last_accessed: i64,
    access_tick: u64,
    access_count: u64,
}

impl Rank {
    fn of(e: &Entry) -> Rank {
        Rank {
            created_at: e.created_at,
            created_tick: e.created_tick,
            last_accessed: e.access.last_accessed.load(Relaxed),
            access_tick: e.access.tick.load(Relaxed),
            access_count: e.access.count.load(Relaxed),
        }
    }
}

/// `Less` = `a` goes first. Timestamps are whole seconds, so ties are broken by the order
/// of events in this process, then by key so that the choice is always deterministic:
/// - lru: oldest `last_accessed`;
/// - lfu: smallest `access_count`, then the least recently used;
/// - fifo: oldest `created_at`.
fn victim_order(policy: EvictionPolicy, a: (&Rank, &Entry), b: (&Rank, &Entry)) -> Ordering {
    let (ra, ea) = a;
    let (rb, eb) = b;
    let lru = || {
        ra.last_accessed
            .cmp(&rb.last_accessed)
            .then(ra.access_tick.cmp(&rb.access_tick))
    };
    let fifo = || {
        ra.created_at
            .cmp(&rb.created_at)
            .then(ra.created_tick.cmp(&rb.created_tick))
    };
    let primary = match policy {
        EvictionPolicy::Lru => lru().then_with(fifo),
        EvictionPolicy::Lfu => ra
            .access_count
            .cmp(&rb.access_count)
            .then_with(lru)
            .then_with(fifo),
        EvictionPolicy::Fifo => fifo(),
    };
    primary.then_with(|| ea.key.cmp(&eb.key))
}

/// A candidate victim, ordered by the policy: the greatest goes last.
struct Candidate<'a> {
    policy: EvictionPolicy,
    rank: Rank,
    entry: &'a Arc<Entry>,
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        victim_order(
            self.policy,
            (&self.rank, self.entry),
            (&other.rank, other.entry),
        )
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

/// The `n` entries of `index` that go first, in order: one pass keeping the `n` best in a
/// small heap, so a full cache of 100,000 entries is neither sorted nor copied per store.
fn first_to_go(index: &Index, policy: EvictionPolicy, n: usize) -> Vec<Arc<Entry>> {
    let mut kept: BinaryHeap<Candidate<'_>> = BinaryHeap::with_capacity(n + 1);
    for entry in index.iter() {
        let c = Candidate {
            policy,
            rank: Rank::of(entry),
            entry,
        };
        if kept.len() < n {
            kept.push(c);
        } else if kept.peek().is_some_and(|last| c < *last) {
            kept.pop();
            kept.push(c);
        }
    }
    kept.into_sorted_vec()
        .into_iter()
        .map(|c| c.entry.clone())
        .collect()
}

/// `entries` in the order `policy` would evict them: first = next to go.
pub(crate) fn eviction_order(policy: EvictionPolicy, entries: Vec<Arc<Entry>>) -> Vec<Arc<Entry>> {
    let mut ranked: Vec<(Rank, Arc<Entry>)> =
        entries.into_iter().map(|e| (Rank::of(&e), e)).collect();
    ranked.sort_by(|a, b| victim_order(policy, (&a.0, &a.1), (&b.0, &b.1)));
    ranked.into_iter().map(|(_, e)| e).collect()
}

/// Removes from the index, in policy order, the entries that must go so that `incoming`
/// more entries and `incoming_bytes` more bytes fit within the limits (reservations of
/// other stores included). `None`, with the index untouched, when even an empty cache
/// would not fit them.
pub(crate) fn make_room(
    index: &mut Index,
    policy: EvictionPolicy,
    limits: Limits,
    incoming: u64,
    incoming_bytes: u64,
) -> Option<Vec<Victim>> {
    let (entries, bytes) = index.committed_and_reserved();
    if limits.fit(entries + incoming, bytes + incoming_bytes) {
        return Some(Vec::new());
    }
    let (mut entries, mut bytes) = (entries + incoming, bytes + incoming_bytes);
    let mut victims = Vec::new();
    // Usually one entry goes; the count limit says how many at least, and the search
    // widens when bytes need more.
    let over_count = if limits.max_entries > 0 {
        entries.saturating_sub(limits.max_entries)
    } else {
        0
    };
    let mut want = usize::try_from(over_count).unwrap_or(usize::MAX).max(1);
    loop {
        let candidates = first_to_go(index, policy, want);
        let exhausted = candidates.len() < want;
        for e in candidates.into_iter().skip(victims.len()) {
            if limits.fit(entries, bytes) {
                break;
            }
            let reason = limits.broken(entries);
            entries -= 1;
            bytes -= e.size;
            victims.push(Victim { entry: e, reason });
        }
        if limits.fit(entries, bytes) || exhausted {
            break;
        }
        want = want.saturating_mul(4);
    }
    if !limits.fit(entries, bytes) {
        return None;
    }
    for v in &victims {
        index.remove(&v.entry.key);
    }
    Some(victims)
}

/// Whether [`make_room`] would fit `incoming` more entries and `incoming_bytes` more
/// bytes, evicting every entry if need be: only room promised to stores in progress
/// cannot be taken back. (No victim is chosen: that is decided under the store lock.)
pub(crate) fn room_possible(
    index: &Index,
    limits: Limits,
    incoming: u64,
    incoming_bytes: u64,
) -> bool {
    let (entries, bytes) = index.reserved();
    limits.fit(entries + incoming, bytes + incoming_bytes)
}

/// Removes from the index the entries created more than `max_age_secs` before `now`.
pub(crate) fn take_expired(index: &mut Index, now: i64, max_age_secs: i64) -> Vec<Victim> {
    let cutoff = now.saturating_sub(max_age_secs);
    let expired: Vec<Arc<Entry>> = index
        .iter()
        .filter(|e| e.created_at < cutoff)
        .cloned()
        .collect();
    for e in &expired {
        index.remove(&e.key);
    }
    expired
        .into_iter()
        .map(|entry| Victim {
            entry,
            reason: EvictReason::Age,
        })
        .collect()
}

/// Deletes the victims' files (already out of the index): metadata first, so that the
/// entry is uncommitted before its binary goes. Open artifacts keep their inode.
pub(crate) fn delete_victims(dir: &Path, victims: &[Victim], stats: &Stats) {
    for Victim { entry: v, reason } in victims {
        stats.eviction(*reason);
        let reason = reason.as_str();
        let result = layout::remove_if_exists(&layout::json_path(dir, &v.key))
            .and_then(|_| layout::remove_if_exists(&v.bin_path));
        match result {
            Ok(_) => tracing::debug!(key = %v.key, size = v.size, reason, "cache entry evicted"),
            Err(e) => tracing::warn!(
                key = %v.key,
                reason,
                error = %e,
                "cache entry evicted from the index but its files could not be deleted"
            ),
        }
    }
}
