//! The Velox build server: a Connect JSON client with retries that follow the error.
//!
//! `connect.rs` makes one call and says what happened, `codes.rs` knows Connect's
//! codes, `retry.rs` decides what a failure means and keeps asking within the budget.

pub mod codes;
pub mod connect;
pub mod retry;

use std::time::Duration;

use tokio::time::Instant;

pub use codes::Code;
pub use connect::{BuildOutput, Failure, VeloxClient};

use crate::config::Config;
use crate::error::Result;

/// The client plus the configuration that governs it.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: VeloxClient,
    retry: crate::config::RetryConfig,
    request_timeout: Duration,
    build_timeout: Duration,
}

impl Upstream {
    /// `None` when no `server_url` is configured.
    pub fn from_config(config: &Config) -> Result<Option<Upstream>> {
        let Some(url) = config.server_url.as_deref() else {
            return Ok(None);
        };
        Ok(Some(Upstream {
            client: VeloxClient::new(url)?,
            retry: config.retry.clone(),
            request_timeout: config.request_timeout,
            build_timeout: config.build_timeout,
        }))
    }

    /// Builds `body` (a Velox `BuildRequest` as JSON), retrying as `retry.rs` says,
    /// giving up at `deadline`.
    pub async fn build(&self, body: &serde_json::Value, deadline: Instant) -> Result<BuildOutput> {
        retry::build_with_retries(
            &self.client,
            body,
            &self.retry,
            self.request_timeout,
            deadline,
            self.build_timeout,
        )
        .await
    }
}

/// The last `max` bytes of `s`, cut at a character boundary, marked when cut.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    const MARK: &str = "…";
    let mut start = s.len() - max.saturating_sub(MARK.len());
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("{MARK}{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_is_bounded_and_cuts_at_char_boundaries() {
        assert_eq!(tail("short", 10), "short");
        let t = tail(&"é".repeat(100), 11);
        assert!(t.len() <= 11, "{}", t.len());
        assert!(t.starts_with('…'));
        assert!(t.ends_with('é'));
    }
}
