//! JSON -> [`Config`], with the seed plugin's defaults and a named error for every bad key.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{parse_go_duration, CacheConfig, Config, EvictionPolicy, RetryConfig};
use crate::error::{Error, Result};
use crate::local::{LocalBuildConfig, SourceMode};

const BYTES_PER_GB: f64 = 1024.0 * 1024.0 * 1024.0;
const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace", "off"];

// Upper bounds of the numeric keys. Every number is bounded so that no accepted config
// can overflow the arithmetic done with it later (a backoff multiplier of 1e300 did).
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3_600);
const MAX_ATTEMPTS: u64 = 100;
const MAX_BACKOFF_MULTIPLIER: f64 = 100.0;
const MAX_SIZE_GB: f64 = 1024.0 * 1024.0;
const MAX_ENTRIES: u64 = 100_000_000;
const MAX_AGE_DAYS: u64 = 36_500;
/// Periodic work more often than this is a mistake (`"1ns"` kept a core busy).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(7 * 86_400);
const MAX_LOCAL_BUILDS: u64 = 1_024;
const MAX_LOCAL_QUEUE: u64 = 1_000_000;

pub(super) fn parse(json: &[u8]) -> Result<Config> {
    // Duplicate keys are refused, as in build requests: with "last one wins" a reviewer
    // reading the first `build_timeout` would not see the one that applies.
    let doc: Value = crate::request::strict_json::from_slice(json).map_err(|e| match e {
        crate::request::strict_json::ReadError::Duplicate(path) => {
            Error::config(path, "appears twice")
        }
        crate::request::strict_json::ReadError::Syntax(e) => {
            Error::config("velox", format!("not valid JSON: {e}"))
        }
    })?;
    let top = match &doc {
        Value::Object(map) => Section::new(map, ""),
        // `velox:` with nothing under it arrives as null: all defaults.
        Value::Null => Section::empty(),
        _ => return Err(Error::config("velox", "must be a JSON object")),
    };
    top.only(&[
        "server_url",
        "build_timeout",
        "request_timeout",
        "retry",
        "cache",
        "allowed_build_dirs",
        "keep_abandoned_builds",
        "build_linger",
        "respond_after",
        "library_path",
        "log_level",
        "local_build_enabled",
        "local_builds",
        "local_build_queue",
        "local_build_dir",
        "go_binary",
        "local_build_source",
    ])?;
    let defaults = Config::default();

    let server_url = match top.string("server_url")? {
        None => None,
        Some(s) if s.trim().is_empty() => None,
        Some(s) => Some(server_url(s).map_err(|r| Error::config("server_url", r))?),
    };

    let build_timeout = top
        .duration("build_timeout")?
        .filter(|d| !d.is_zero())
        .unwrap_or(defaults.build_timeout);
    at_least_one_second(&top, "build_timeout", build_timeout)?;
    at_most(&top, "build_timeout", build_timeout, MAX_TIMEOUT)?;
    let request_timeout = top
        .duration("request_timeout")?
        .filter(|d| !d.is_zero())
        .unwrap_or(defaults.request_timeout);
    at_least_one_second(&top, "request_timeout", request_timeout)?;
    at_most(&top, "request_timeout", request_timeout, MAX_TIMEOUT)?;

    let retry = retry(&top.section("retry")?, defaults.retry)?;
    let cache_section = top.section("cache")?;
    let cache = cache(&cache_section, defaults.cache)?;
    let remote = crate::remote::RemoteConfig::parse(cache_section.get("remote"))?;

    let allowed_build_dirs = match top.get("allowed_build_dirs") {
        None => defaults.allowed_build_dirs,
        Some(v) => build_dirs(v)?,
    };

    let keep_abandoned_builds = top.boolean("keep_abandoned_builds")?.unwrap_or(false);
    // A build cannot outlive build_timeout anyway: the cap only makes that visible.
    let build_linger = (top.duration("build_linger")?)
        .unwrap_or(defaults.build_linger)
        .min(build_timeout);
    let respond_after = top.duration("respond_after")?.filter(|d| !d.is_zero());
    // Only checked for type: the Go purego loader reads it before the library exists.
    let _ = top.string("library_path")?;
    let log_level = match top.string("log_level")? {
        None => None,
        Some(s) if s.trim().is_empty() => None,
        Some(s) => {
            let level = s.trim().to_ascii_lowercase();
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(Error::config(
                    "log_level",
                    format!("{s:?} is not one of {}", LOG_LEVELS.join(", ")),
                ));
            }
            Some(level)
        }
    };

    let local_build_enabled = top.boolean("local_build_enabled")?.unwrap_or(false);
    let local = local(&top, defaults.local)?;

    Ok(Config {
        server_url,
        build_timeout,
        request_timeout,
        retry,
        cache,
        allowed_build_dirs,
        keep_abandoned_builds,
        build_linger,
        respond_after,
        log_level,
        local_build_enabled,
        local,
        remote,
    })
}

fn local(s: &Section, d: LocalBuildConfig) -> Result<LocalBuildConfig> {
    let max_concurrent = match s.bounded("local_builds", MAX_LOCAL_BUILDS)? {
        None => d.max_concurrent,
        Some(0) => return Err(s.err("local_builds", "must be at least 1")),
        Some(n) => n as usize,
    };
    let queue_limit = match s.bounded("local_build_queue", MAX_LOCAL_QUEUE)? {
        None => d.queue_limit,
        Some(n) => n as usize,
    };
    let work_dir = match s.string("local_build_dir")? {
        None => d.work_dir,
        Some(p) if p.trim().is_empty() => d.work_dir,
        Some(p) => {
            let dir = PathBuf::from(p);
            if !dir.is_absolute() {
                return Err(s.err("local_build_dir", "must be an absolute path"));
            }
            dir
        }
    };
    let go_binary = match s.string("go_binary")? {
        None => d.go_binary,
        Some(p) if p.trim().is_empty() => d.go_binary,
        Some(p) => PathBuf::from(p),
    };
    let source = match s.string("local_build_source")? {
        None => d.source,
        Some(m) if m.trim().is_empty() => d.source,
        Some(m) => SourceMode::parse(&m.trim().to_ascii_lowercase()).ok_or_else(|| {
            s.err(
                "local_build_source",
                format!("{m:?} is not one of auto, generated, roadrunner"),
            )
        })?,
    };
    Ok(LocalBuildConfig {
        max_concurrent,
        queue_limit,
        work_dir,
        go_binary,
        source,
    })
}

fn retry(s: &Section, d: RetryConfig) -> Result<RetryConfig> {
    s.only(&[
        "max_attempts",
        "initial_delay",
        "max_delay",
        "backoff_multiplier",
    ])?;
    // Zero means "default" here, exactly as the seed plugin's InitDefaults.
    let max_attempts = match s.bounded("max_attempts", MAX_ATTEMPTS)? {
        None | Some(0) => d.max_attempts,
        Some(n) => n as u32,
    };
    let initial_delay = s
        .duration("initial_delay")?
        .filter(|v| !v.is_zero())
        .unwrap_or(d.initial_delay);
    let max_delay = s
        .duration("max_delay")?
        .filter(|v| !v.is_zero())
        .unwrap_or(d.max_delay);
    at_most(s, "initial_delay", initial_delay, MAX_RETRY_DELAY)?;
    at_most(s, "max_delay", max_delay, MAX_RETRY_DELAY)?;
    if max_delay < initial_delay {
        return Err(s.err(
            "max_delay",
            format!("{max_delay:?} is shorter than initial_delay ({initial_delay:?})"),
        ));
    }
    let backoff_multiplier = match s.float("backoff_multiplier")? {
        None => d.backoff_multiplier,
        Some(0.0) => d.backoff_multiplier,
        Some(m) if m < 1.0 => return Err(s.err("backoff_multiplier", "must be at least 1.0")),
        Some(m) if m > MAX_BACKOFF_MULTIPLIER => {
            return Err(s.err(
                "backoff_multiplier",
                format!("{m} is more than {MAX_BACKOFF_MULTIPLIER}"),
            ))
        }
        Some(m) => m,
    };
    Ok(RetryConfig {
        max_attempts,
        initial_delay,
        max_delay,
        backoff_multiplier,
    })
}

fn cache(s: &Section, d: CacheConfig) -> Result<CacheConfig> {
    s.only(&[
        "enabled",
        "directory",
        "max_size_gb",
        "max_entries",
        "max_age_days",
        "cleanup_interval",
        "eviction_policy",
        "access_update_interval",
        "remote",
    ])?;
    let directory = match s.string("directory")? {
        None => d.directory,
        Some(p) if p.trim().is_empty() => d.directory,
        Some(p) => PathBuf::from(p),
    };
    let max_size_bytes = match s.float("max_size_gb")? {
        None => 0,
        Some(gb) if gb < 0.0 => return Err(s.err("max_size_gb", "must not be negative")),
        Some(gb) if gb > MAX_SIZE_GB => {
            return Err(s.err("max_size_gb", format!("{gb} is more than {MAX_SIZE_GB}")))
        }
        Some(gb) => (gb * BYTES_PER_GB) as u64,
    };
    let max_age_days = s.bounded("max_age_days", MAX_AGE_DAYS)?.unwrap_or(0);
    let max_age = Duration::from_secs(86_400)
        .checked_mul(
            u32::try_from(max_age_days).map_err(|_| s.err("max_age_days", "is too large"))?,
        )
        .ok_or_else(|| s.err("max_age_days", "is too large"))?;
    let eviction_policy = match s.string("eviction_policy")? {
        None => d.eviction_policy,
        Some(p) => match p.trim().to_ascii_lowercase().as_str() {
            "" | "lru" => EvictionPolicy::Lru,
            "lfu" => EvictionPolicy::Lfu,
            "fifo" => EvictionPolicy::Fifo,
            _ => {
                return Err(s.err(
                    "eviction_policy",
                    format!("{p:?} is not one of lru, lfu, fifo"),
                ))
            }
        },
    };
    Ok(CacheConfig {
        enabled: s.boolean("enabled")?.unwrap_or(d.enabled),
        directory,
        max_size_bytes,
        max_entries: s.bounded("max_entries", MAX_ENTRIES)?.unwrap_or(0),
        max_age,
        // Unlike the seed, an explicit 0 is honoured: no periodic cleanup / write at once.
        cleanup_interval: interval(s, "cleanup_interval", d.cleanup_interval)?,
        eviction_policy,
        access_update_interval: interval(s, "access_update_interval", d.access_update_interval)?,
    })
}

fn server_url(s: &str) -> std::result::Result<String, String> {
    let url = reqwest::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s:?} must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{s:?} must not have a query or fragment (the Build path is appended)"
        ));
    }
    Ok(s.trim().trim_end_matches('/').to_owned())
}

fn build_dirs(v: &Value) -> Result<Vec<PathBuf>> {
    let key = "allowed_build_dirs";
    let items: Vec<(String, &Value)> = match v {
        // A single string is one directory (convenient for environment overrides).
        Value::String(_) => vec![(key.to_owned(), v)],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{key}[{i}]"), item))
            .collect(),
        _ => return Err(Error::config(key, "must be a list of directories")),
    };
    if items.is_empty() {
        return Err(Error::config(
            key,
            "must name at least one directory (omit it for the system temp dir)",
        ));
    }
    let mut dirs = Vec::with_capacity(items.len());
    for (name, item) in items {
        let Some(raw) = item.as_str().filter(|s| !s.trim().is_empty()) else {
            return Err(Error::config(name, "must be a non-empty path"));
        };
        // Canonical form, so that the later prefix check compares like with like.
        let dir = std::fs::canonicalize(raw)
            .map_err(|e| Error::config(&name, format!("{raw:?} cannot be resolved: {e}")))?;
        if !dir.is_dir() {
            return Err(Error::config(name, format!("{raw:?} is not a directory")));
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// The system temp dir, canonicalized when possible (`/tmp` may be a link, as on macOS).
pub(super) fn default_build_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    std::fs::canonicalize(&tmp).unwrap_or(tmp)
}

/// A periodic interval: explicit 0 = off, otherwise between 1 s and 7 days.
fn interval(s: &Section, key: &str, default: Duration) -> Result<Duration> {
    let d = s.duration(key)?.unwrap_or(default);
    if !d.is_zero() && d < MIN_INTERVAL {
        return Err(s.err(
            key,
            format!("{d:?} is shorter than {MIN_INTERVAL:?} (write 0 to turn it off)"),
        ));
    }
    at_most(s, key, d, MAX_INTERVAL)?;
    Ok(d)
}

fn at_most(s: &Section, key: &str, d: Duration, max: Duration) -> Result<()> {
    if d > max {
        Err(s.err(key, format!("{d:?} is longer than {max:?}")))
    } else {
        Ok(())
    }
}

fn at_least_one_second(s: &Section, key: &str, d: Duration) -> Result<()> {
    if d < Duration::from_secs(1) {
        Err(s.err(key, format!("{d:?} is shorter than 1s")))
    } else {
        Ok(())
    }
}

/// One JSON object of the configuration, with its dotted prefix for error messages.
struct Section<'a> {
    map: Option<&'a Map<String, Value>>,
    prefix: String,
}

impl<'a> Section<'a> {
    fn new(map: &'a Map<String, Value>, prefix: &str) -> Self {
        Section {
            map: Some(map),
            prefix: prefix.to_owned(),
        }
    }

    fn empty() -> Self {
        Section {
            map: None,
            prefix: String::new(),
        }
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> Error {
        Error::config(self.key(name), reason)
    }

    fn only(&self, known: &[&str]) -> Result<()> {
        let unknown = self
            .map
            .and_then(|m| m.keys().find(|k| !known.contains(&k.as_str())));
        match unknown {
            Some(k) => Err(self.err(k, "unknown key")),
            None => Ok(()),
        }
    }

    /// A present, non-null value.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map?.get(name).filter(|v| !v.is_null())
    }

    fn section(&self, name: &str) -> Result<Section<'a>> {
        let prefix = self.key(name);
        match self.get(name) {
            None => Ok(Section { map: None, prefix }),
            Some(Value::Object(m)) => Ok(Section::new(m, &prefix)),
            Some(_) => Err(Error::config(prefix, "must be a mapping of keys")),
        }
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(name, "must be a string")),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" | "" => Ok(Some(false)),
                _ => Err(self.err(name, format!("{s:?} is not true or false"))),
            },
            Some(_) => Err(self.err(name, "must be true or false")),
        }
    }

    /// A non-negative integer, as a JSON number or a string of digits.
    fn integer(&self, name: &str) -> Result<Option<u64>> {
        let bad = || self.err(name, "must be a non-negative integer");
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// [`Section::integer`] no larger than `max`.
    fn bounded(&self, name: &str, max: u64) -> Result<Option<u64>> {
        match self.integer(name)? {
            Some(n) if n > max => Err(self.err(name, format!("{n} is more than {max}"))),
            other => Ok(other),
        }
    }

    /// A finite number, as a JSON number or a string.
    fn float(&self, name: &str) -> Result<Option<f64>> {
        let bad = || self.err(name, "must be a number");
        let value = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
            Some(_) => return Err(bad()),
        };
        if value.is_finite() {
            Ok(Some(value))
        } else {
            Err(bad())
        }
    }

    /// A Go duration string. Bare numbers other than 0 are refused (see `from_json`).
    fn duration(&self, name: &str) -> Result<Option<Duration>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => parse_go_duration(s.trim())
                .map(Some)
                .map_err(|r| self.err(name, r)),
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(Some(Duration::ZERO)),
            Some(Value::Number(n)) => Err(self.err(
                name,
                format!(
                    "bare number {n} has no unit: write a Go duration such as \"{n}s\" \
                     (Go would read {n} as nanoseconds)"
                ),
            )),
            Some(_) => Err(self.err(name, "must be a Go duration string such as \"5m\"")),
        }
    }
}
