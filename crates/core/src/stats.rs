//! Counters shared by the cache and the resolver; `vxm_stats_json` reports them, and the
//! Go shim turns them into Prometheus metrics at scrape time (go-shim/metrics.go).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::Error;

#[derive(Debug, Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Builds started (upstream calls or local builds), not joins.
    pub builds: AtomicU64,
    pub joined: AtomicU64,
    /// Joins into a build that a client had left (a retry after a proxy gave up), or
    /// that a client was answered `202` for (a poll).
    pub joined_after_leave: AtomicU64,
    /// Requests answered `202 Accepted` while their build went on.
    pub async_answers: AtomicU64,
    /// Builds that ended (into the cache, or failed) with nobody waiting.
    pub builds_unwatched_done: AtomicU64,
    /// Lingering builds cancelled because nobody came back within `build_linger`.
    pub linger_expired: AtomicU64,
    /// Requests answered with a recently failed build's remembered error.
    pub failures_replayed: AtomicU64,
    /// Builds refused `Busy` (a queue full: `build_queue_limit` or `local_build_queue`).
    pub builds_refused: AtomicU64,
    /// `202` builds whose binary the cache did not keep, held for the poll, and
    /// delivered from there (`crate::resolve::pickup`).
    pub pickups_held: AtomicU64,
    pub pickups_served: AtomicU64,
    /// Not held: past `pickup_hold_max_mb` (or holding is off).
    pub pickups_dropped: AtomicU64,
    /// Entries removed by the limits (size, count, age); manual removals are not here.
    pub evictions: AtomicU64,
    /// Entries found not to be the build their metadata describes (or not a Go
    /// executable at all), by the background check of entries written without
    /// provenance: moved aside (`cache::reverify`).
    pub provenance_mismatches: AtomicU64,
    pub upstream_errors: AtomicU64,
    /// Builds that ended in an error, by [`Error::code`].
    pub builds_failed: Labelled,
    /// Evictions by reason: every [`EvictReason`], present from the start at 0, so
    /// that consumers export the series without a list of their own.
    pub evictions_by_reason: EvictionsByReason,
    /// Upstream errors by Connect code (`unavailable`, `internal`, `invalid_argument`,
    /// `deadline_exceeded`...) or, for a refused build output, `unsafe_path` or
    /// `build_mismatch` (not the build that was asked for).
    pub upstream_errors_by_code: Labelled,
    /// The remote tier's events: `hit`, `miss`, `error`, `corrupt`, `too_large`,
    /// `upload`, `lease_wait`, `lease_wait_expired`, `lease_taken_over`,
    /// `lease_too_large`, `mismatch` (an intact object that is not the requested build)
    /// (`crate::remote`).
    pub remote: Labelled,
    /// Durations of the builds that succeeded.
    pub build_duration: Histogram,
}

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictReason {
    /// `max_size` was reached.
    Size,
    /// `max_entries` was reached.
    Count,
    /// Older than `max_age`.
    Age,
    /// Removed on request (`vxm_cache_remove`, `velox-cache rm`).
    Manual,
    /// Moved aside: the binary is not the build its metadata describes.
    Mismatch,
}

/// Every [`EvictReason`].
const EVICT_REASONS: [EvictReason; 5] = [
    EvictReason::Size,
    EvictReason::Count,
    EvictReason::Age,
    EvictReason::Manual,
    EvictReason::Mismatch,
];

impl EvictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictReason::Size => "size",
            EvictReason::Count => "count",
            EvictReason::Age => "age",
            EvictReason::Manual => "manual",
            EvictReason::Mismatch => "mismatch",
        }
    }
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One entry left the cache.
    pub fn eviction(&self, reason: EvictReason) {
        // `evictions` counts the limits' work only.
        if !matches!(reason, EvictReason::Manual | EvictReason::Mismatch) {
            Stats::bump(&self.evictions);
        }
        self.evictions_by_reason.bump(reason.as_str());
    }

    /// The upstream failed or answered something we cannot use.
    pub fn upstream_error(&self, err: &Error) {
        Stats::bump(&self.upstream_errors);
        self.upstream_errors_by_code.bump(connect_code(err));
    }

    /// A build ended in an error.
    pub fn build_failed(&self, err: &Error) {
        self.builds_failed.bump(err.code());
    }
}

/// The Connect code an error carries, or the nearest one for errors that were not
/// answered by the server (a refused output path keeps its own name).
fn connect_code(err: &Error) -> &str {
    match err {
        Error::UpstreamRejected { code, .. } | Error::BuildFailed { code, .. } => code,
        Error::UpstreamUnavailable { .. } => "unavailable",
        Error::Timeout { .. } => "deadline_exceeded",
        Error::Cancelled | Error::ShuttingDown => "canceled",
        other => other.code(),
    }
}

/// Counters by label value; few distinct labels, so a locked map is cheap enough.
#[derive(Debug, Default)]
pub struct Labelled(Mutex<BTreeMap<String, u64>>);

impl Labelled {
    pub fn bump(&self, label: &str) {
        let mut map = self.0.lock();
        match map.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                map.insert(label.to_owned(), 1);
            }
        }
    }

    pub fn get(&self, label: &str) -> u64 {
        self.0.lock().get(label).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().clone()
    }
}

/// [`Labelled`] holding every [`EvictReason`] from the start.
#[derive(Debug)]
pub struct EvictionsByReason(Labelled);

impl Default for EvictionsByReason {
    fn default() -> Self {
        let zeros = EVICT_REASONS.map(|r| (r.as_str().to_owned(), 0));
        EvictionsByReason(Labelled(Mutex::new(zeros.into_iter().collect())))
    }
}

impl std::ops::Deref for EvictionsByReason {
    type Target = Labelled;

    fn deref(&self) -> &Labelled {
        &self.0
    }
}

/// Upper bounds (seconds) of the build duration buckets: builds take about a minute.
pub const BUILD_DURATION_BUCKETS: [f64; 10] =
    [1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0];

/// A Prometheus-style histogram: non-cumulative counts per bucket (the last one is
/// +Inf), a sum in milliseconds and a count.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUILD_DURATION_BUCKETS.len() + 1],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

/// What `vxm_stats_json` reports of a histogram; `buckets` are cumulative, as
/// Prometheus wants them, keyed by upper bound in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistogramSnapshot {
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe_ms(&self, ms: u64) {
        let secs = ms as f64 / 1000.0;
        let i = BUILD_DURATION_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUILD_DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = BUILD_DURATION_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&le, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (le, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_the_sum_is_in_seconds() {
        let h = Histogram::default();
        h.observe_ms(500);
        h.observe_ms(45_000);
        h.observe_ms(10_000_000);
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (1.0, 1));
        assert_eq!(s.buckets[4], (30.0, 1));
        assert_eq!(s.buckets[5], (60.0, 2));
        assert_eq!(
            s.buckets.last(),
            Some(&(600.0, 2)),
            "+Inf is count, not listed"
        );
        assert!((s.sum_seconds - 10_045.5).abs() < 1e-9);
    }

    #[test]
    fn upstream_errors_are_labelled_with_their_connect_code() {
        let s = Stats::default();
        s.upstream_error(&Error::BuildFailed {
            code: "internal".into(),
            message: "x".into(),
            logs: String::new(),
        });
        s.upstream_error(&Error::UpstreamUnavailable {
            attempts: 3,
            message: "refused".into(),
        });
        s.upstream_error(&Error::Timeout { seconds: 1 });
        assert_eq!(Stats::get(&s.upstream_errors), 3);
        assert_eq!(s.upstream_errors_by_code.get("internal"), 1);
        assert_eq!(s.upstream_errors_by_code.get("unavailable"), 1);
        assert_eq!(s.upstream_errors_by_code.get("deadline_exceeded"), 1);
    }

    #[test]
    fn manual_removals_are_labelled_but_not_in_the_limit_evictions_total() {
        let s = Stats::default();
        s.eviction(EvictReason::Manual);
        s.eviction(EvictReason::Age);
        assert_eq!(Stats::get(&s.evictions), 1);
        assert_eq!(s.evictions_by_reason.get("manual"), 1);
        assert_eq!(s.evictions_by_reason.get("age"), 1);
    }

    #[test]
    fn every_eviction_reason_is_reported_before_it_happens() {
        let s = Stats::default();
        s.eviction(EvictReason::Size);
        let reasons: Vec<(String, u64)> = s.evictions_by_reason.snapshot().into_iter().collect();
        let want = [
            ("age", 0),
            ("count", 0),
            ("manual", 0),
            ("mismatch", 0),
            ("size", 1),
        ];
        assert_eq!(reasons, want.map(|(r, n)| (r.to_owned(), n)));
    }
}
