//! The `Retry-After` of a `202`: when the build will probably be done.
//!
//! Builds for the same target (os/arch) take similar times, so the last few durations of
//! successful builds per target give an estimate; without one, a constant. The answer is
//! clamped so that a client neither polls in a tight loop nor sleeps past the end.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Seconds to wait when nothing is known about the target.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 5;
/// Bounds of any estimate, in seconds.
pub const MIN_RETRY_AFTER_SECS: u32 = 1;
pub const MAX_RETRY_AFTER_SECS: u32 = 30;

#[derive(Default)]
pub struct Estimates {
    /// Exponentially weighted mean build time in ms, by `os/arch`.
    by_target: Mutex<HashMap<String, u64>>,
}

impl Estimates {
    /// Records a successful build of `target` that took `ms`.
    pub fn record(&self, target: &str, ms: u64) {
        let mut by_target = self.by_target.lock();
        let mean = by_target.entry(target.to_owned()).or_insert(ms);
        // Weight 1/2 on the newest: a changed build server shows up after a build or two.
        *mean = (*mean + ms) / 2;
    }

    /// Seconds until a build of `target` that has run `elapsed_ms` is probably done.
    pub fn retry_after(&self, target: &str, elapsed_ms: u64) -> u32 {
        let Some(mean) = self.by_target.lock().get(target).copied() else {
            return DEFAULT_RETRY_AFTER_SECS;
        };
        let left_secs = mean.saturating_sub(elapsed_ms).div_ceil(1000);
        u32::try_from(left_secs)
            .unwrap_or(u32::MAX)
            .clamp(MIN_RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS)
    }
}

/// The estimate's key for a request.
pub fn target(os: &str, arch: &str) -> String {
    format!("{os}/{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_target_gets_the_constant() {
        assert_eq!(
            Estimates::default().retry_after("linux/arm64", 0),
            DEFAULT_RETRY_AFTER_SECS
        );
    }

    #[test]
    fn known_target_gets_the_time_left_within_bounds() {
        let e = Estimates::default();
        e.record("linux/amd64", 20_000);
        assert_eq!(e.retry_after("linux/amd64", 8_000), 12);
        assert_eq!(e.retry_after("linux/amd64", 19_999), MIN_RETRY_AFTER_SECS);
        assert_eq!(e.retry_after("linux/amd64", 90_000), MIN_RETRY_AFTER_SECS);
        e.record("linux/amd64", 300_000);
        assert_eq!(e.retry_after("linux/amd64", 0), MAX_RETRY_AFTER_SECS);
        assert_eq!(e.retry_after("linux/arm64", 0), DEFAULT_RETRY_AFTER_SECS);
    }
}
