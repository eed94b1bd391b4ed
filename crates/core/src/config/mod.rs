//! The engine configuration: the `velox:` section of `.rr.yaml`, handed in as JSON.
//!
//! Keys and defaults are the seed plugin's (roadrunner-plugins/velox-middleware), so an
//! existing `.rr.yaml` works unchanged; new keys are optional. Unknown keys are refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Result;

mod build_path;
mod duration;
pub mod keys;
mod local;
mod parse;
mod remote;

pub use build_path::BuildPath;
pub use duration::parse_go_duration;
pub use local::{LocalBuildConfig, SourceMode};
pub use remote::RemoteConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    Lru,
    Lfu,
    Fifo,
}

impl EvictionPolicy {
    /// The word `cache.eviction_policy` names it by.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Lfu => "lfu",
            EvictionPolicy::Fifo => "fifo",
        }
    }
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
    /// Check each binary's Go build information against its request before it is cached
    /// or served (`crate::provenance`).
    pub verify_builds: bool,
    /// Keep a build running when its last waiter has gone, so a retrying user finds it cached.
    pub keep_abandoned_builds: bool,
    /// How long a build keeps running after its last waiter left, so that a retry joins
    /// it (`crate::resolve::linger`); zero = cancel at once. Bounded by `build_timeout`.
    pub build_linger: Duration,
    /// When a waiting request is answered `202 Accepted` instead (`crate::resolve::respond`);
    /// `None` = never, unless the client sends `Prefer: respond-async`.
    pub respond_after: Option<Duration>,
    /// The library's log level, one of [`keys::LOG_LEVEL`]'s words, lowercase; `None` =
    /// leave the level as it is (default `info`).
    pub log_level: Option<String>,
    /// `local_build_enabled`: build misses on this host with the embedded local builder
    /// instead of a Velox server (see [`Config::build_path`]).
    pub local_build_enabled: bool,
    /// Settings of the embedded local builder (see `crate::local`).
    pub local: LocalBuildConfig,
    /// `cache.remote.*`: the shared object-storage tier; `None` = none.
    pub remote: Option<RemoteConfig>,
}

impl Config {
    /// Parses and validates the JSON form of the `velox:` section. The keys, their
    /// defaults and bounds are the rows of [`keys::KEYS`]; `null` means absent, and an
    /// error names the dotted key (`cache.evction_policy: unknown key`).
    pub fn from_json(json: &[u8]) -> Result<Config> {
        parse::parse(json)
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Config::default().retry
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Config::default().cache
    }
}

/// The defaults of every key: what the key table's defaults parse to.
impl Default for Config {
    fn default() -> Self {
        // Cannot fail unless the table itself is wrong, which its tests catch.
        parse::parse(b"null").unwrap_or_else(|e| panic!("the key table's defaults: {e}"))
    }
}
