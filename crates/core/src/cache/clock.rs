//! Wall-clock time for the cache's timestamps (`created_at`, `last_accessed`), injected so
//! that age limits and LRU order can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds, the unit of the seed plugin's metadata.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            // A clock set before 1970 is broken; entries then look brand new, never expired.
            Err(_) => 0,
        }
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    secs: AtomicI64,
}

impl ManualClock {
    pub fn new(start: i64) -> ManualClock {
        ManualClock {
            secs: AtomicI64::new(start),
        }
    }

    /// Starts at the system's current time, so that files' own timestamps look recent.
    pub fn starting_now() -> ManualClock {
        ManualClock::new(SystemClock.now())
    }

    pub fn set(&self, secs: i64) {
        self.secs.store(secs, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.secs.load(Ordering::SeqCst)
    }
}
