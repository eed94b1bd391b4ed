//! What happens to builds in flight when the host stops (RoadRunner's `Stop`).
//!
//! Clients are usually gone by then (RoadRunner closes its HTTP connections first), so
//! every build in flight is abandoned. `keep_abandoned_builds` decides its fate: kept
//! builds get the host's remaining graceful time to finish into the cache, others are
//! cancelled at once by the engine's shutdown (their upstream calls are dropped).

use std::time::{Duration, Instant};

/// How often `drain` looks at the builds in flight; they take tens of seconds, so a
/// coarse poll costs nothing and needs no notification plumbing in the resolver.
const POLL: Duration = Duration::from_millis(20);

/// Waits (if `keep` is set) until `in_flight()` is 0 or `timeout` has passed; returns
/// what is still in flight.
pub fn drain(keep: bool, timeout: Duration, in_flight: impl Fn() -> usize) -> usize {
    let start = Instant::now();
    let mut left = in_flight();
    if !keep || left == 0 {
        return left;
    }
    tracing::info!(
        builds = left,
        timeout_ms = timeout.as_millis() as u64,
        "waiting for abandoned builds to finish"
    );
    while left > 0 {
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            tracing::warn!(
                builds = left,
                "graceful time over: cancelling the builds still in flight"
            );
            break;
        }
        std::thread::sleep(POLL.min(timeout - elapsed));
        left = in_flight();
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn without_keep_returns_at_once_with_the_builds_left() {
        let calls = Cell::new(0);
        let left = drain(false, Duration::from_secs(60), || {
            calls.set(calls.get() + 1);
            2
        });
        assert_eq!((left, calls.get()), (2, 1));
    }

    #[test]
    fn with_keep_waits_until_the_builds_are_done() {
        let n = Cell::new(3usize);
        let left = drain(true, Duration::from_secs(60), || {
            n.set(n.get().saturating_sub(1));
            n.get()
        });
        assert_eq!(left, 0);
    }

    #[test]
    fn with_keep_gives_up_after_the_timeout() {
        let start = Instant::now();
        let left = drain(true, Duration::from_millis(50), || 1);
        assert_eq!(left, 1);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
