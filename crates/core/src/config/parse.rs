//! JSON -> [`Config`]: every value read through its row of the key table (`keys.rs`), with
//! a named error for every bad key.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::keys::{self, Key, Kind, Zero};
use super::{
    parse_go_duration, CacheConfig, Config, EvictionPolicy, LocalBuildConfig, RemoteConfig,
    RetryConfig, SourceMode,
};
use crate::error::{Error, Result};

const BYTES_PER_GB: f64 = 1024.0 * 1024.0 * 1024.0;
const SECONDS_PER_DAY: u64 = 86_400;

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
    top.only_known()?;

    let server_url = match top.text(&keys::SERVER_URL)? {
        None => None,
        Some(s) => Some(server_url(s).map_err(|r| top.err(&keys::SERVER_URL, r))?),
    };
    let build_timeout = top.duration(&keys::BUILD_TIMEOUT)?;
    let request_timeout = top.duration(&keys::REQUEST_TIMEOUT)?;

    let retry = retry(&top.section("retry")?)?;
    let cache_section = top.section("cache")?;
    let cache = cache(&cache_section)?;
    let remote = RemoteConfig::parse(cache_section.get("remote"))?;

    let allowed_build_dirs = match top.get(keys::ALLOWED_BUILD_DIRS.leaf()) {
        None => vec![default_build_dir()],
        Some(v) => build_dirs(v)?,
    };

    let verify_builds = top.flag(&keys::VERIFY_BUILDS)?;
    let keep_abandoned_builds = top.flag(&keys::KEEP_ABANDONED_BUILDS)?;
    // A build cannot outlive build_timeout anyway: the cap only makes that visible.
    let build_linger = top.optional_duration(&keys::BUILD_LINGER)?;
    let build_linger = build_linger.unwrap_or_default().min(build_timeout);
    let respond_after = (top.optional_duration(&keys::RESPOND_AFTER)?).filter(|d| !d.is_zero());
    // Only checked for type: the Go purego loader reads it before the library exists.
    let _ = top.text(&keys::LIBRARY_PATH)?;
    let log_level = top.choice(&keys::LOG_LEVEL)?;

    let local_build_enabled = top.flag(&keys::LOCAL_BUILD_ENABLED)?;
    let local = local(&top)?;

    Ok(Config {
        server_url,
        build_timeout,
        request_timeout,
        retry,
        cache,
        allowed_build_dirs,
        verify_builds,
        keep_abandoned_builds,
        build_linger,
        respond_after,
        log_level,
        local_build_enabled,
        local,
        remote,
    })
}

fn local(s: &Section) -> Result<LocalBuildConfig> {
    let work_dir = match s.text(&keys::LOCAL_BUILD_DIR)? {
        // Not canonicalized: the builder only creates directories under it.
        None => std::env::temp_dir(),
        Some(p) => {
            let dir = PathBuf::from(p);
            if !dir.is_absolute() {
                return Err(s.err(&keys::LOCAL_BUILD_DIR, "must be an absolute path"));
            }
            dir
        }
    };
    let source = s.choice(&keys::LOCAL_BUILD_SOURCE)?;
    let source = source.as_deref().and_then(SourceMode::parse);
    Ok(LocalBuildConfig {
        max_concurrent: s.integer(&keys::LOCAL_BUILDS)? as usize,
        queue_limit: s.integer(&keys::LOCAL_BUILD_QUEUE)? as usize,
        work_dir,
        go_binary: PathBuf::from(s.text(&keys::GO_BINARY)?.unwrap_or_default()),
        source: source.ok_or_else(|| s.err(&keys::LOCAL_BUILD_SOURCE, "has no builder"))?,
    })
}

fn retry(s: &Section) -> Result<RetryConfig> {
    s.only_known()?;
    let max_attempts = s.integer(&keys::RETRY_MAX_ATTEMPTS)?;
    let initial_delay = s.duration(&keys::RETRY_INITIAL_DELAY)?;
    let max_delay = s.duration(&keys::RETRY_MAX_DELAY)?;
    if max_delay < initial_delay {
        return Err(s.err(
            &keys::RETRY_MAX_DELAY,
            format!("{max_delay:?} is shorter than initial_delay ({initial_delay:?})"),
        ));
    }
    Ok(RetryConfig {
        // The table bounds it far below u32::MAX.
        max_attempts: max_attempts as u32,
        initial_delay,
        max_delay,
        backoff_multiplier: s.number(&keys::RETRY_BACKOFF_MULTIPLIER)?,
    })
}

fn cache(s: &Section) -> Result<CacheConfig> {
    s.only_known()?;
    let directory = PathBuf::from(s.text(&keys::CACHE_DIRECTORY)?.unwrap_or_default());
    let max_size_bytes = (s.number(&keys::CACHE_MAX_SIZE_GB)? * BYTES_PER_GB) as u64;
    let max_age = Duration::from_secs(SECONDS_PER_DAY * s.integer(&keys::CACHE_MAX_AGE_DAYS)?);
    let word = s.choice(&keys::CACHE_EVICTION_POLICY)?;
    let eviction_policy = [
        EvictionPolicy::Lru,
        EvictionPolicy::Lfu,
        EvictionPolicy::Fifo,
    ]
    .into_iter()
    .find(|p| word.as_deref() == Some(p.as_str()))
    .ok_or_else(|| s.err(&keys::CACHE_EVICTION_POLICY, "has no policy"))?;
    Ok(CacheConfig {
        enabled: s.flag(&keys::CACHE_ENABLED)?,
        directory,
        max_size_bytes,
        max_entries: s.integer(&keys::CACHE_MAX_ENTRIES)?,
        max_age,
        // Unlike the seed, an explicit 0 is honoured: no periodic cleanup / write at once.
        cleanup_interval: s.duration(&keys::CACHE_CLEANUP_INTERVAL)?,
        eviction_policy,
        access_update_interval: s.duration(&keys::CACHE_ACCESS_UPDATE_INTERVAL)?,
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
    let key = keys::ALLOWED_BUILD_DIRS.name;
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

/// A key's literal default, as its type. Every row's literal is tested to parse, so the
/// error is for a table edited without running the tests.
fn literal<T: FromStr>(k: &Key) -> Result<T> {
    k.default_literal()
        .and_then(|lit| lit.parse().ok())
        .ok_or_else(|| Error::config(k.name, "has no usable built-in default"))
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

    fn err(&self, k: &Key, reason: impl Into<String>) -> Error {
        debug_assert_eq!(k.name, self.key(k.leaf()), "read in the wrong section");
        Error::config(k.name, reason)
    }

    /// Refuses a key the table does not have in this mapping.
    fn only_known(&self) -> Result<()> {
        let known = keys::children(&self.prefix);
        let unknown = self
            .map
            .and_then(|m| m.keys().find(|k| !known.contains(&k.as_str())));
        match unknown {
            Some(k) => Err(Error::config(self.key(k), "unknown key")),
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

    fn string(&self, k: &Key) -> Result<Option<&'a str>> {
        match self.get(k.leaf()) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(k, "must be a string")),
        }
    }

    /// A [`Kind::Text`] key: the value as given, else the default; blank = absent.
    fn text(&self, k: &Key) -> Result<Option<&'a str>> {
        Ok(match self.string(k)? {
            Some(s) if !s.trim().is_empty() => Some(s),
            _ => k.default_literal(),
        })
    }

    /// A [`Kind::OneOf`] key: one of its words, lowercase, else the default; blank = absent.
    fn choice(&self, k: &Key) -> Result<Option<String>> {
        let Kind::OneOf(words) = k.kind else {
            return Err(self.err(k, "is not a choice in the key table"));
        };
        let Some(s) = self.string(k)?.filter(|s| !s.trim().is_empty()) else {
            return Ok(k.default_literal().map(str::to_owned));
        };
        let word = s.trim().to_ascii_lowercase();
        if !words.contains(&word.as_str()) {
            return Err(self.err(k, format!("{s:?} is not one of {}", words.join(", "))));
        }
        Ok(Some(word))
    }

    /// A [`Kind::Flag`] key.
    fn flag(&self, k: &Key) -> Result<bool> {
        match self.get(k.leaf()) {
            None => literal(k),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" | "" => Ok(false),
                _ => Err(self.err(k, format!("{s:?} is not true or false"))),
            },
            Some(_) => Err(self.err(k, "must be true or false")),
        }
    }

    /// A [`Kind::Integer`] key: the value within its bounds, else the default.
    fn integer(&self, k: &Key) -> Result<u64> {
        let Kind::Integer { min, max, zero } = k.kind else {
            return Err(self.err(k, "is not an integer in the key table"));
        };
        let n = match self.raw_integer(k)? {
            Some(n) if n > max => return Err(self.err(k, format!("{n} is more than {max}"))),
            Some(0) if zero == Zero::Default => literal(k)?,
            Some(n) => n,
            None => literal(k)?,
        };
        if n < min && !(n == 0 && matches!(zero, Zero::Means(_))) {
            return Err(self.err(k, format!("must be at least {min}")));
        }
        Ok(n)
    }

    /// A non-negative integer, as a JSON number or a string of digits.
    fn raw_integer(&self, k: &Key) -> Result<Option<u64>> {
        let bad = || self.err(k, "must be a non-negative integer");
        match self.get(k.leaf()) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A [`Kind::Number`] key: the value within its bounds, else the default.
    fn number(&self, k: &Key) -> Result<f64> {
        let Kind::Number { min, max, zero } = k.kind else {
            return Err(self.err(k, "is not a number in the key table"));
        };
        let m = match self.raw_number(k)? {
            Some(m) if m == 0.0 && zero == Zero::Default => literal(k)?,
            Some(m) => m,
            None => literal(k)?,
        };
        if m < min && !(m == 0.0 && matches!(zero, Zero::Means(_))) {
            return Err(self.err(
                k,
                if min == 0.0 {
                    "must not be negative".to_owned()
                } else {
                    format!("must be at least {min:?}")
                },
            ));
        }
        if m > max {
            return Err(self.err(k, format!("{m} is more than {max}")));
        }
        Ok(m)
    }

    /// A finite number, as a JSON number or a string.
    fn raw_number(&self, k: &Key) -> Result<Option<f64>> {
        let bad = || self.err(k, "must be a number");
        let value = match self.get(k.leaf()) {
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

    /// A [`Kind::Duration`] key with a literal default.
    fn duration(&self, k: &Key) -> Result<Duration> {
        self.optional_duration(k)?
            .ok_or_else(|| self.err(k, "has no built-in default"))
    }

    /// A [`Kind::Duration`] key within its bounds, else its default (`None` when the
    /// table has no literal for it).
    fn optional_duration(&self, k: &Key) -> Result<Option<Duration>> {
        let Kind::Duration { min, max, zero } = k.kind else {
            return Err(self.err(k, "is not a duration in the key table"));
        };
        let d = match self.raw_duration(k)? {
            Some(d) if d.is_zero() && zero == Zero::Default => None,
            other => other,
        };
        let d = match (d, k.default_literal()) {
            (Some(d), _) => d,
            (None, Some(lit)) => {
                parse_go_duration(lit).map_err(|r| self.err(k, format!("default: {r}")))?
            }
            (None, None) => return Ok(None),
        };
        let off = matches!(zero, Zero::Means(_));
        if d.is_zero() && off {
            return Ok(Some(d));
        }
        if d < min {
            let hint = if off { " (write 0 to turn it off)" } else { "" };
            return Err(self.err(k, format!("{d:?} is shorter than {min:?}{hint}")));
        }
        if let Some(max) = max.filter(|max| d > *max) {
            return Err(self.err(k, format!("{d:?} is longer than {max:?}")));
        }
        Ok(Some(d))
    }

    /// A Go duration string. Bare numbers other than 0 are refused: Go would read an
    /// integer as nanoseconds, so `300` is almost certainly a mistake.
    fn raw_duration(&self, k: &Key) -> Result<Option<Duration>> {
        match self.get(k.leaf()) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => parse_go_duration(s.trim())
                .map(Some)
                .map_err(|r| self.err(k, r)),
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Ok(Some(Duration::ZERO)),
            Some(Value::Number(n)) => Err(self.err(
                k,
                format!(
                    "bare number {n} has no unit: write a Go duration such as \"{n}s\" \
                     (Go would read {n} as nanoseconds)"
                ),
            )),
            Some(_) => Err(self.err(k, "must be a Go duration string such as \"5m\"")),
        }
    }
}
