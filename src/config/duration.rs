//! Go duration strings (`"5m"`, `"180s"`, `"1h30m"`), as RoadRunner's config uses them.

use std::time::Duration;

/// Parses a Go `time.ParseDuration` string. Negative durations are refused.
pub fn parse_go_duration(_s: &str) -> Result<Duration, String> {
    todo!("config: Go duration parser")
}
