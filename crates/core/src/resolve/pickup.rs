//! The pickup hold: where the binary of a build promised with `202` waits for its poll
//! when the cache does not keep it.
//!
//! A `202` promises "come back and get it". The cache usually keeps that promise, but
//! not when it is disabled, when the binary is larger than `max_size`, or when the
//! store failed: the poll would then miss, start a new build, be answered `202` again,
//! and so on forever. So such a binary is held here, outside the cache's limits, for
//! `pickup_hold` (every poll of its key until then is served it, each with a file
//! offset of its own) and within `pickup_hold_max_mb` bytes in all. One that does not
//! fit is not held (logged, counted `pickups_dropped`); its next poll builds again.
//! The held file is the open descriptor the build was served from, so nothing is
//! copied and a deleted path stays readable until the hold ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::artifact::Artifact;
use crate::request::CacheKey;
use crate::stats::Stats;

#[derive(Default)]
pub struct Pickups {
    held: Mutex<HashMap<CacheKey, (Artifact, Instant)>>,
    hold: Duration,
    max_bytes: u64,
}

impl Pickups {
    pub fn new(hold: Duration, max_bytes: u64) -> Pickups {
        Pickups {
            held: Mutex::default(),
            hold,
            max_bytes,
        }
    }

    /// Whether anything can be held at all (`pickup_hold` and its byte bound not 0).
    pub fn enabled(&self) -> bool {
        !self.hold.is_zero() && self.max_bytes > 0
    }

    /// Holds `artifact` for `pickup_hold`; returns when it must be let go (for the
    /// caller's timer), or `None` when it was not held (no room, or holding is off).
    pub fn hold(&self, artifact: &Artifact, stats: &Stats) -> Option<Duration> {
        let mut held = self.held.lock();
        let now = Instant::now();
        held.retain(|_, (_, until)| *until > now);
        held.remove(&artifact.key);
        let in_use: u64 = held.values().map(|(a, _)| a.size).sum();
        if !self.enabled() || in_use + artifact.size > self.max_bytes {
            Stats::bump(&stats.pickups_dropped);
            tracing::warn!(key = %artifact.key, size = artifact.size, in_use,
                max_bytes = self.max_bytes,
                "a 202 build the cache does not keep is too large to hold; its next poll builds again");
            return None;
        }
        Stats::bump(&stats.pickups_held);
        tracing::info!(key = %artifact.key, size = artifact.size, hold_ms = self.hold.as_millis() as u64,
            "holding a 202 build the cache does not keep for its poll");
        held.insert(artifact.key.clone(), (artifact.clone(), now + self.hold));
        Some(self.hold)
    }

    /// The binary held for `key`, if its hold has not ended; it stays held for other
    /// polls until then.
    pub fn get(&self, key: &CacheKey) -> Option<Artifact> {
        let mut held = self.held.lock();
        match held.get(key) {
            Some((artifact, until)) if *until > Instant::now() => Some(artifact.clone()),
            Some(_) => {
                held.remove(key);
                None
            }
            None => None,
        }
    }

    /// Lets go of what has expired (the timer armed by [`Pickups::hold`]).
    pub fn expire(&self) {
        let now = Instant::now();
        self.held.lock().retain(|_, (_, until)| *until > now);
    }
}

/// Whether the cache keeps `artifact` (its path is the cache's entry for its key).
pub(super) fn kept_by(cache: Option<&Arc<crate::cache::Cache>>, artifact: &Artifact) -> bool {
    cache.is_some_and(|c| {
        artifact.path == crate::cache::layout::bin_path(c.directory(), &artifact.key)
    })
}
