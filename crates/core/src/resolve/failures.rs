//! Failed builds that a client was told to come back for, remembered for a short time.
//!
//! A client answered `202 Accepted`, or one that left while the build went on, polls
//! again later. If the build failed meanwhile, that poll must get the build's error, not
//! a fresh build: a failing build restarted on every poll of a tight retry loop would
//! hammer the build server. So the error of a build that a `202` client was promised,
//! or that ended with nobody waiting, is answered to every request for the same key
//! during [`FAILURE_MEMORY`]; after that a request builds again. A build whose error
//! reached a waiting client directly is not remembered, even if another client had
//! left it before (the waiter came back and has its answer): a synchronous retry
//! behaves as it always did.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::Error;
use crate::request::CacheKey;

/// How long a remembered failure is answered instead of building again.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15);

#[derive(Default)]
pub struct Failures {
    by_key: Mutex<HashMap<CacheKey, (Arc<Error>, Instant)>>,
}

impl Failures {
    /// Remembers `err` for `key` unless it says nothing about the build itself (the
    /// caller or the engine stopped it, or it never got a slot).
    pub fn remember(&self, key: &CacheKey, err: &Arc<Error>) {
        if matches!(
            **err,
            Error::Cancelled | Error::ShuttingDown | Error::Busy { .. }
        ) {
            return;
        }
        let mut by_key = self.by_key.lock();
        let now = Instant::now();
        by_key.retain(|_, (_, until)| *until > now);
        by_key.insert(key.clone(), (err.clone(), now + FAILURE_MEMORY));
    }

    /// The remembered failure of `key`, if it is recent enough.
    pub fn recent(&self, key: &CacheKey) -> Option<Arc<Error>> {
        let mut by_key = self.by_key.lock();
        match by_key.get(key) {
            Some((err, until)) if *until > Instant::now() => Some(err.clone()),
            Some(_) => {
                by_key.remove(key);
                None
            }
            None => None,
        }
    }

    /// Forgets `key` (a forced rebuild started, or a build succeeded).
    pub fn forget(&self, key: &CacheKey) {
        self.by_key.lock().remove(key);
    }
}
