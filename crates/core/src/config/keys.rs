//! Every key of the `velox:` section, once: its name, type, default, bounds and meaning.
//!
//! The parser reads values through this table (unknown keys, defaults, bounds and the
//! meaning of an explicit 0 all come from here), `Config::default()` is what the table's
//! defaults parse to, and README.md's configuration table is rendered from it (by the docs
//! test, which owns the rendering, so the shipped library carries no Markdown). A key is
//! added here and nowhere else.

use std::time::Duration;

/// One key of the `velox:` section.
#[derive(Debug)]
pub struct Key {
    /// The dotted path under `velox:` (`cache.max_entries`), as error messages name it.
    pub name: &'static str,
    pub kind: Kind,
    pub default: DefaultIs,
    /// What the key does, for the README; bounds and defaults are added from the table.
    /// `{retryable}` stands for the failures the retry loop backs off on.
    pub doc: &'static str,
}

/// What an absent key (or `null`) means.
#[derive(Debug, Clone, Copy)]
pub enum DefaultIs {
    /// The value, written as in `.rr.yaml`; an absent key behaves as if this were given.
    Literal(&'static str),
    /// No literal stands for it; the text says what happens instead.
    Absent(&'static str),
}

/// The type of a key's value, with its bounds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A Go duration string; a bare number other than 0 is refused.
    Duration {
        min: Duration,
        max: Option<Duration>,
        zero: Zero,
    },
    /// A non-negative integer (a JSON number or a string of digits).
    Integer { min: u64, max: u64, zero: Zero },
    /// A finite number (a JSON number or a string).
    Number { min: f64, max: f64, zero: Zero },
    /// `true` / `false` (or the strings `"true"`, `"1"`, `"false"`, `"0"`).
    Flag,
    /// A string; empty means the default.
    Text,
    /// One of a few words, compared without case; empty means the default.
    OneOf(&'static [&'static str]),
    /// A list of existing directories (or one as a string).
    Dirs,
}

/// What an explicit 0 means for a numeric key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    /// 0 is a value like any other, subject to the bounds.
    Plain,
    /// 0 stands for the default, as in the seed plugin.
    Default,
    /// 0 turns something off and passes the lower bound; the text says what it means.
    Means(&'static str),
}

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3_600);
const WEEK: Duration = Duration::from_secs(7 * 86_400);

const fn duration(min: Duration, max: Option<Duration>, zero: Zero) -> Kind {
    Kind::Duration { min, max, zero }
}

const fn key(name: &'static str, kind: Kind, default: DefaultIs, doc: &'static str) -> Key {
    Key {
        name,
        kind,
        default,
        doc,
    }
}

use DefaultIs::{Absent, Literal};

pub const SERVER_URL: Key = key(
    "server_url",
    Kind::Text,
    Absent("none"),
    "Velox `vx server` base URL (http or https). **Required** unless `local_build_enabled: true`: \
     absent or empty (an unset `${VELOX_URL}` gives `\"\"`) fails Init with an error naming `server_url`",
);
pub const BUILD_TIMEOUT: Key = key(
    "build_timeout",
    duration(SECOND, Some(WEEK), Zero::Default),
    Literal("5m"),
    "bounds a whole resolve: cache, waiting for an identical build, every attempt and backoff",
);
pub const REQUEST_TIMEOUT: Key = key(
    "request_timeout",
    duration(SECOND, Some(WEEK), Zero::Default),
    Literal("180s"),
    "bounds one attempt; an attempt also never runs past what is left of `build_timeout`",
);
pub const RETRY_MAX_ATTEMPTS: Key = key(
    "retry.max_attempts",
    Kind::Integer {
        min: 1,
        max: 100,
        zero: Zero::Default,
    },
    Literal("3"),
    "attempts for retryable failures ({retryable})",
);
pub const RETRY_INITIAL_DELAY: Key = key(
    "retry.initial_delay",
    duration(Duration::ZERO, Some(HOUR), Zero::Default),
    Literal("1s"),
    "first backoff; grows by `backoff_multiplier` with jitter",
);
pub const RETRY_MAX_DELAY: Key = key(
    "retry.max_delay",
    duration(Duration::ZERO, Some(HOUR), Zero::Default),
    Literal("10s"),
    "backoff cap; not shorter than `initial_delay`",
);
pub const RETRY_BACKOFF_MULTIPLIER: Key = key(
    "retry.backoff_multiplier",
    Kind::Number {
        min: 1.0,
        max: 100.0,
        zero: Zero::Default,
    },
    Literal("2.0"),
    "how much each backoff grows",
);
pub const CACHE_ENABLED: Key = key(
    "cache.enabled",
    Kind::Flag,
    Literal("false"),
    "turn the disk cache on",
);
pub const CACHE_DIRECTORY: Key = key(
    "cache.directory",
    Kind::Text,
    Literal("./cache/velox"),
    "`{key}.bin` + `{key}.json`, the seed plugin's layout; may be shared by several RoadRunner \
     processes (see \"Sharing a cache directory\")",
);
pub const CACHE_MAX_SIZE_GB: Key = key(
    "cache.max_size_gb",
    Kind::Number {
        min: 0.0,
        max: 1024.0 * 1024.0,
        zero: Zero::Means("unlimited"),
    },
    Literal("0"),
    "total size in GiB (fractions allowed) of the whole directory, whichever process stored the \
     entries; room is made before a store, so after any store returns it is not exceeded",
);
pub const CACHE_MAX_ENTRIES: Key = key(
    "cache.max_entries",
    Kind::Integer {
        min: 0,
        max: 100_000_000,
        zero: Zero::Means("unlimited"),
    },
    Literal("0"),
    "number of binaries in the whole directory; enforced like the size",
);
pub const CACHE_MAX_AGE_DAYS: Key = key(
    "cache.max_age_days",
    Kind::Integer {
        min: 0,
        max: 36_500,
        zero: Zero::Means("entries never expire"),
    },
    Literal("0"),
    "entries older than this are removed by the periodic cleanup",
);
pub const CACHE_CLEANUP_INTERVAL: Key = key(
    "cache.cleanup_interval",
    // Periodic work more often than once a second is a mistake (`"1ns"` kept a core busy).
    duration(SECOND, Some(WEEK), Zero::Means("no periodic cleanup")),
    Literal("1h"),
    "periodic cleanup",
);
pub const CACHE_EVICTION_POLICY: Key = key(
    "cache.eviction_policy",
    Kind::OneOf(&["lru", "lfu", "fifo"]),
    Literal("lru"),
    "`lru` (least recently used), `lfu` (least often used, then oldest access), `fifo` (oldest \
     created)",
);
pub const CACHE_ACCESS_UPDATE_INTERVAL: Key = key(
    "cache.access_update_interval",
    duration(SECOND, Some(WEEK), Zero::Means("written at once")),
    Literal("5m"),
    "how often access statistics are written to the `.json` files (a hit itself never writes)",
);
pub const CACHE_REMOTE_URL: Key = key(
    "cache.remote.url",
    Kind::Text,
    Absent("none"),
    "`s3://bucket[/prefix]`: the shared remote tier (see \"Several hosts\"); needs \
     `cache.enabled`. Absent or empty: nothing changes",
);
pub const CACHE_REMOTE_ENDPOINT: Key = key(
    "cache.remote.endpoint",
    Kind::Text,
    Absent("AWS"),
    "`http(s)://host:port` of an S3-compatible store (MinIO, Ceph RGW, SeaweedFS, R2, GCS in S3 \
     mode); path-style requests",
);
pub const CACHE_REMOTE_REGION: Key = key(
    "cache.remote.region",
    Kind::Text,
    Literal("us-east-1"),
    "the bucket's region",
);
pub const CACHE_REMOTE_ALLOW_HTTP: Key = key(
    "cache.remote.allow_http",
    Kind::Flag,
    Literal("false"),
    "must be `true` for an `http://` endpoint",
);
pub const CACHE_REMOTE_ACCESS_KEY_ID: Key = key(
    "cache.remote.access_key_id",
    Kind::Text,
    Absent("the environment"),
    "with `secret_access_key`: both or neither; neither = `AWS_ACCESS_KEY_ID` / \
     `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) from RoadRunner's environment. \
     RoadRunner's `${ENV}` expansion works here too",
);
pub const CACHE_REMOTE_SECRET_ACCESS_KEY: Key = key(
    "cache.remote.secret_access_key",
    Kind::Text,
    Absent("the environment"),
    "with `access_key_id`: both or neither",
);
pub const ALLOWED_BUILD_DIRS: Key = key(
    "allowed_build_dirs",
    Kind::Dirs,
    Absent("system temp dir"),
    "directories the Velox server's output `path` must lie in (canonicalised; symlinks, \
     hard-linked, non-regular and empty files are refused). The cache copies the file, so \
     nothing done to it later reaches the cache",
);
pub const VERIFY_BUILDS: Key = key(
    "verify_builds",
    Kind::Flag,
    Literal("true"),
    "check every binary against the request it answers before it is cached or served: the Go \
     build information inside it (modules and versions, replaces, `GOOS`/`GOARCH`, `-race`) \
     must be what was asked for; a difference is `BUILD_MISMATCH` (502), never cached. Off \
     only to serve files that are not Go executables (see docs/OPERATORS.md)",
);
pub const KEEP_ABANDONED_BUILDS: Key = key(
    "keep_abandoned_builds",
    Kind::Flag,
    Literal("false"),
    "when the last client waiting for a build goes away, always let the build finish (and be \
     cached); overrides `build_linger`",
);
pub const BUILD_LINGER: Key = key(
    "build_linger",
    // Long enough for a client behind a 60 s or 100 s proxy to retry, short enough not to
    // keep unwanted builds busy.
    duration(Duration::ZERO, None, Zero::Means("cancel at once")),
    Literal("3m"),
    "when the last client waiting for a build goes away (a proxy gave up), the build keeps \
     running this long so that a retry joins it (`JOINED`), and a result that comes meanwhile \
     is cached; nobody back by then: cancelled. Capped at `build_timeout` (a build never \
     outlives its own deadline). Shutdown cancels lingering builds",
);
pub const RESPOND_AFTER: Key = key(
    "respond_after",
    duration(Duration::ZERO, None, Zero::Means("off")),
    Absent("off"),
    "answer a request whose build is still running after this long with `202 Accepted` + \
     `Retry-After` (see \"Long builds\" below); the build goes on. Off unless set, or the \
     client sends `Prefer: respond-async`",
);
pub const LIBRARY_PATH: Key = key(
    "library_path",
    Kind::Text,
    Absent("none"),
    "purego (default) backend only: where `libvelox_middleware.so` is (see go-shim/README.md); \
     the library only checks that it is a string",
);
pub const LOG_LEVEL: Key = key(
    "log_level",
    Kind::OneOf(&["error", "warn", "info", "debug", "trace", "off"]),
    Absent("RoadRunner's level"),
    "the library's log level",
);
pub const LOCAL_BUILD_ENABLED: Key = key(
    "local_build_enabled",
    Kind::Flag,
    Literal("false"),
    "build misses on this host with `go_binary` instead of a Velox server (see \"Local \
     builder\"); only without `server_url` (both set fails Init naming both)",
);
pub const LOCAL_BUILDS: Key = key(
    "local_builds",
    Kind::Integer {
        min: 1,
        max: 1_024,
        zero: Zero::Plain,
    },
    // Each build is a `go build` that uses every core it is given.
    Literal("1"),
    "local builder: builds at once",
);
pub const LOCAL_BUILD_QUEUE: Key = key(
    "local_build_queue",
    Kind::Integer {
        min: 0,
        max: 1_000_000,
        zero: Zero::Plain,
    },
    Literal("16"),
    "local builder: builds waiting beyond that; more are refused at once (502, \"local build \
     queue full\")",
);
pub const LOCAL_BUILD_DIR: Key = key(
    "local_build_dir",
    Kind::Text,
    Absent("system temp dir"),
    "local builder: where private workspaces and output directories are made (an absolute path)",
);
pub const GO_BINARY: Key = key(
    "go_binary",
    Kind::Text,
    Literal("go"),
    "local builder: the go command (a bare name is looked up in `PATH`)",
);
pub const LOCAL_BUILD_SOURCE: Key = key(
    "local_build_source",
    Kind::OneOf(&["auto", "generated", "roadrunner"]),
    Literal("auto"),
    "local builder: `roadrunner` (RoadRunner's source for `rr_version`), `generated` (our own \
     main on endure), `auto` (the first when the Go module proxy serves it, else the second)",
);

/// The table, in the README's order.
pub static KEYS: &[&Key] = &[
    &SERVER_URL,
    &BUILD_TIMEOUT,
    &REQUEST_TIMEOUT,
    &RETRY_MAX_ATTEMPTS,
    &RETRY_INITIAL_DELAY,
    &RETRY_MAX_DELAY,
    &RETRY_BACKOFF_MULTIPLIER,
    &CACHE_ENABLED,
    &CACHE_DIRECTORY,
    &CACHE_MAX_SIZE_GB,
    &CACHE_MAX_ENTRIES,
    &CACHE_MAX_AGE_DAYS,
    &CACHE_CLEANUP_INTERVAL,
    &CACHE_EVICTION_POLICY,
    &CACHE_ACCESS_UPDATE_INTERVAL,
    &CACHE_REMOTE_URL,
    &CACHE_REMOTE_ENDPOINT,
    &CACHE_REMOTE_REGION,
    &CACHE_REMOTE_ALLOW_HTTP,
    &CACHE_REMOTE_ACCESS_KEY_ID,
    &CACHE_REMOTE_SECRET_ACCESS_KEY,
    &ALLOWED_BUILD_DIRS,
    &VERIFY_BUILDS,
    &KEEP_ABANDONED_BUILDS,
    &BUILD_LINGER,
    &RESPOND_AFTER,
    &LIBRARY_PATH,
    &LOG_LEVEL,
    &LOCAL_BUILD_ENABLED,
    &LOCAL_BUILDS,
    &LOCAL_BUILD_QUEUE,
    &LOCAL_BUILD_DIR,
    &GO_BINARY,
    &LOCAL_BUILD_SOURCE,
];

impl Key {
    /// The last segment of the dotted name: the key inside its mapping.
    pub fn leaf(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    /// The literal default, if there is one.
    pub fn default_literal(&self) -> Option<&'static str> {
        match self.default {
            Literal(v) => Some(v),
            Absent(_) => None,
        }
    }
}

/// The keys allowed directly in the mapping at `section` (`""` for the top level,
/// `"cache"`, `"cache.remote"`): leaves and sub-mappings alike.
pub fn children(section: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for k in KEYS {
        let rest = if section.is_empty() {
            Some(k.name)
        } else {
            k.name
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('.'))
        };
        if let Some(child) = rest.and_then(|r| r.split('.').next()) {
            if !names.contains(&child) {
                names.push(child);
            }
        }
    }
    names
}

/// The bounds and the meaning of 0, as the README states them.
pub fn limits(kind: &Kind, doc: &str) -> String {
    let mut parts = Vec::new();
    let zero = match *kind {
        Kind::Duration { min, max, zero } => {
            match (min.is_zero(), max) {
                (false, Some(max)) => {
                    parts.push(format!("{} to {}", go_duration(min), go_duration(max)))
                }
                (true, Some(max)) => parts.push(format!("at most {}", go_duration(max))),
                (false, None) => parts.push(format!("at least {}", go_duration(min))),
                (true, None) => {}
            }
            zero
        }
        Kind::Integer { min, max, zero } => {
            parts.push(if min == 0 {
                format!("at most {max}")
            } else {
                format!("{min} to {max}")
            });
            zero
        }
        Kind::Number { min, max, zero } => {
            parts.push(if min == 0.0 {
                format!("at most {max}")
            } else {
                format!("{min:?} to {max}")
            });
            zero
        }
        Kind::OneOf(words) => {
            let words: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
            // A doc that explains every word has listed them already.
            if words.iter().all(|w| doc.contains(w.as_str())) {
                parts.push("anything else is an error".to_owned());
            } else {
                parts.push(format!(
                    "one of {}; anything else is an error",
                    words.join(", ")
                ));
            }
            Zero::Plain
        }
        Kind::Flag | Kind::Text | Kind::Dirs => Zero::Plain,
    };
    match zero {
        Zero::Plain => {}
        Zero::Default => parts.push("`0` = the default".to_owned()),
        Zero::Means(what) => parts.push(format!("`0` = {what}")),
    }
    parts.join("; ")
}

/// `d` as Go prints a whole number of seconds (`168h`, `1h30m`, `1s`).
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sections_are_found() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                KEYS[..i].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
        }
        assert!(children("").contains(&"retry"));
        assert!(children("").contains(&"cache"));
        assert!(children("cache").contains(&"remote"));
        assert_eq!(children("retry").len(), 4);
        assert!(children("cache.remote").contains(&"secret_access_key"));
        assert!(!children("").contains(&"max_attempts"));
    }

    #[test]
    fn go_durations_print_as_go_writes_them() {
        assert_eq!(go_duration(WEEK), "168h");
        assert_eq!(go_duration(HOUR), "1h");
        assert_eq!(go_duration(SECOND), "1s");
        assert_eq!(go_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
