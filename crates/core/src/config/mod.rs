//! The engine configuration: the `velox:` section of `.rr.yaml`, handed in as JSON.
//!
//! Keys and defaults are the seed plugin's (roadrunner-plugins/velox-middleware), so an
//! existing `.rr.yaml` works unchanged; new keys are optional. Unknown keys are refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Result;
use crate::local::LocalBuildConfig;

mod build_path;
mod duration;
mod parse;

pub use build_path::BuildPath;
pub use duration::parse_go_duration;

/// `build_linger`'s default: long enough for a client behind a 60 s or 100 s proxy to
/// retry, short enough not to keep unwanted builds busy.
pub const DEFAULT_BUILD_LINGER: Duration = Duration::from_secs(180);

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
    /// How long a build keeps running after its last waiter left, so that a retry joins
    /// it (`src/resolve/linger.rs`); zero = cancel at once. Bounded by `build_timeout`.
    pub build_linger: Duration,
    /// When a waiting request is answered `202 Accepted` instead (`src/resolve/respond.rs`);
    /// `None` = never, unless the client sends `Prefer: respond-async`.
    pub respond_after: Option<Duration>,
    /// The library's log level (`error`, `warn`, `info`, `debug`, `trace`, `off`),
    /// lowercase; `None` = leave the level as it is (default `info`).
    pub log_level: Option<String>,
    /// `local_build_enabled`: build misses on this host with the embedded local builder
    /// instead of a Velox server (see [`Config::build_path`]).
    pub local_build_enabled: bool,
    /// Settings of the embedded local builder (see `crate::local`).
    pub local: LocalBuildConfig,
    /// `cache.remote.*`: the shared object-storage tier; `None` = none.
    pub remote: Option<crate::remote::RemoteConfig>,
}

impl Config {
    /// Parses and validates the JSON form of the `velox:` section.
    ///
    /// Keys (all optional; `null` means absent):
    ///
    /// | key | default | notes |
    /// | --- | --- | --- |
    /// | `server_url` | none | `http(s)://host[:port][/path]`; empty or absent = no Velox server (then `local_build_enabled` must be true) |
    /// | `build_timeout` | `5m` | Go duration, >= 1s; `0` = default (as the seed) |
    /// | `request_timeout` | `180s` | Go duration, >= 1s; `0` = default |
    /// | `retry.max_attempts` | 3 | >= 1; `0` = default |
    /// | `retry.initial_delay` | `1s` | `0` = default |
    /// | `retry.max_delay` | `10s` | >= initial_delay; `0` = default |
    /// | `retry.backoff_multiplier` | 2.0 | >= 1.0; `0` = default |
    /// | `cache.enabled` | false | |
    /// | `cache.directory` | `./cache/velox` | empty = default |
    /// | `cache.max_size_gb` | 0 | GiB (2^30 bytes), fractions allowed, 0 = unlimited |
    /// | `cache.max_entries` | 0 | 0 = unlimited |
    /// | `cache.max_age_days` | 0 | 0 = entries never expire |
    /// | `cache.cleanup_interval` | `1h` | explicit `0` = no periodic cleanup |
    /// | `cache.eviction_policy` | `lru` | `lru`, `lfu` or `fifo`; anything else is an error |
    /// | `cache.access_update_interval` | `5m` | explicit `0` = write access statistics at once |
    /// | `allowed_build_dirs` | system temp dir | list of existing directories, canonicalized |
    /// | `keep_abandoned_builds` | false | |
    /// | `build_linger` | `3m` | Go duration; `0` = cancel when the last client leaves; capped at build_timeout |
    /// | `respond_after` | none | Go duration; `0` or absent = off; then 202 + Retry-After |
    /// | `library_path` | none | read by the Go purego loader; ignored here |
    /// | `log_level` | none (`info`) | `error`, `warn`, `info`, `debug`, `trace`, `off` |
    /// | `local_build_enabled` | false | build on this host with `go_binary`; only without `server_url` |
    /// | `local_builds` | 1 | local builds at once, >= 1 |
    /// | `local_build_queue` | 16 | local builds allowed to wait for a slot |
    /// | `local_build_dir` | system temp dir | absolute path for local build workspaces |
    /// | `go_binary` | `go` | the go command for local builds (name or path) |
    /// | `local_build_source` | `auto` | `auto`, `generated` or `roadrunner` |
    /// | `cache.remote.url` | none | `s3://bucket[/prefix]`: the shared object-storage tier (needs `cache.enabled`) |
    /// | `cache.remote.endpoint` | AWS | `http(s)://host:port` of an S3-compatible store |
    /// | `cache.remote.region` | `us-east-1` | |
    /// | `cache.remote.allow_http` | false | needed for an `http://` endpoint |
    /// | `cache.remote.access_key_id`, `secret_access_key` | `AWS_*` environment | both or neither |
    ///
    /// Durations are Go duration strings (`"250ms"`, `"1.5s"`, `"1h30m"`). A bare number
    /// other than 0 is refused: Go would read an integer as nanoseconds, so `300` is
    /// almost certainly a mistake. Integers, floats and booleans may be given as strings
    /// (`"3"`, `"2.5"`, `"true"`), as environment overrides produce them. Unknown keys
    /// are an error naming the dotted key (`cache.evction_policy`).
    pub fn from_json(json: &[u8]) -> Result<Config> {
        parse::parse(json)
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            backoff_multiplier: 2.0,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            directory: PathBuf::from("./cache/velox"),
            max_size_bytes: 0,
            max_entries: 0,
            max_age: Duration::ZERO,
            cleanup_interval: Duration::from_secs(3600),
            eviction_policy: EvictionPolicy::Lru,
            access_update_interval: Duration::from_secs(300),
        }
    }
}

/// The defaults of every key, as `Config::from_json(b"{}")` gives them.
impl Default for Config {
    fn default() -> Self {
        Config {
            server_url: None,
            build_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(180),
            retry: RetryConfig::default(),
            cache: CacheConfig::default(),
            allowed_build_dirs: vec![parse::default_build_dir()],
            keep_abandoned_builds: false,
            build_linger: DEFAULT_BUILD_LINGER,
            respond_after: None,
            log_level: None,
            local_build_enabled: false,
            local: LocalBuildConfig::default(),
            remote: None,
        }
    }
}
