//! The engine configuration: the `velox:` section of `.rr.yaml`, handed in as JSON.
//!
//! Keys and defaults are the seed plugin's (roadrunner-plugins/velox-middleware), so an
//! existing `.rr.yaml` works unchanged; new keys are optional. Unknown keys are refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Result;

mod duration;
mod parse;

pub use duration::parse_go_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    Lru,
    Lfu,
    Fifo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub backoff_multiplier: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub enabled: bool,
    pub directory: PathBuf,
    /// 0 = unlimited.
    pub max_size_bytes: u64,
    /// 0 = unlimited.
    pub max_entries: u64,
    /// Zero = entries never expire.
    pub max_age: Duration,
    /// Zero = no periodic cleanup.
    pub cleanup_interval: Duration,
    pub eviction_policy: EvictionPolicy,
    /// Zero = access statistics are written at once.
    pub access_update_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `None` = no Velox server configured.
    pub server_url: Option<String>,
    pub build_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryConfig,
    pub cache: CacheConfig,
    /// Canonical directories the Velox server's output path must lie in.
    pub allowed_build_dirs: Vec<PathBuf>,
    /// Keep a build running when its last waiter has gone, so a retrying user finds it cached.
    pub keep_abandoned_builds: bool,
}

impl Config {
    /// Parses and validates the JSON form of the `velox:` section.
    pub fn from_json(json: &[u8]) -> Result<Config> {
        parse::parse(json)
    }
}
