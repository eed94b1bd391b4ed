//! The `velox:` section: defaults, every key, Go durations, and errors naming the key.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use velox_core::config::keys::{self, Key, Kind, Zero};
use velox_core::config::{parse_go_duration, EvictionPolicy};
use velox_core::local::{LocalBuildConfig, SourceMode};
use velox_core::{Config, Error};

fn cfg(v: Value) -> Result<Config, Error> {
    Config::from_json(v.to_string().as_bytes())
}

fn key_of_error(v: Value) -> String {
    match cfg(v.clone()) {
        Err(Error::InvalidConfig { key, .. }) => key,
        other => panic!("{v} should be refused, got {other:?}"),
    }
}

#[test]
fn empty_section_gives_the_seed_defaults() {
    let c = cfg(json!({})).unwrap();
    assert_eq!(c.server_url, None);
    assert_eq!(c.build_timeout, Duration::from_secs(300));
    assert_eq!(c.request_timeout, Duration::from_secs(180));
    assert_eq!(c.retry.max_attempts, 3);
    assert_eq!(c.retry.initial_delay, Duration::from_secs(1));
    assert_eq!(c.retry.max_delay, Duration::from_secs(10));
    assert_eq!(c.retry.backoff_multiplier, 2.0);
    assert!(!c.cache.enabled);
    assert_eq!(c.cache.directory, PathBuf::from("./cache/velox"));
    assert_eq!(c.cache.max_size_bytes, 0);
    assert_eq!(c.cache.max_entries, 0);
    assert_eq!(c.cache.max_age, Duration::ZERO);
    assert_eq!(c.cache.cleanup_interval, Duration::from_secs(3600));
    assert_eq!(c.cache.eviction_policy, EvictionPolicy::Lru);
    assert_eq!(c.cache.access_update_interval, Duration::from_secs(300));
    let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap();
    assert_eq!(c.allowed_build_dirs, vec![tmp]);
    assert!(!c.keep_abandoned_builds);
    assert_eq!(c.log_level, None);
    assert_eq!(c.local, LocalBuildConfig::default());
    assert_eq!(c.local.max_concurrent, 1);
    assert_eq!(c.local.queue_limit, 16);
    assert_eq!(c.local.go_binary, PathBuf::from("go"));
    assert_eq!(c.local.source, SourceMode::Auto);
    assert_eq!(c, Config::default());
    assert_eq!(Config::from_json(b"null").unwrap(), Config::default());
}

#[test]
fn every_key_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(json!({
        "server_url": "http://127.0.0.1:9000/",
        "build_timeout": "10m",
        "request_timeout": "1m30s",
        "retry": {"max_attempts": 5, "initial_delay": "250ms", "max_delay": "20s", "backoff_multiplier": 1.5},
        "cache": {
            "enabled": true,
            "directory": "/var/cache/velox",
            "max_size_gb": 1.5,
            "max_entries": 42,
            "max_age_days": 7,
            "cleanup_interval": "30m",
            "eviction_policy": "fifo",
            "access_update_interval": "0s"
        },
        "allowed_build_dirs": [dir.path().to_str().unwrap()],
        "keep_abandoned_builds": true,
        "library_path": "/usr/lib/libvelox_middleware.so",
        "log_level": "DEBUG",
        "local_builds": 2,
        "local_build_queue": "0",
        "local_build_dir": "/var/tmp/velox-builds",
        "go_binary": "/usr/local/go/bin/go",
        "local_build_source": "generated"
    }))
    .unwrap();
    assert_eq!(c.server_url.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(c.build_timeout, Duration::from_secs(600));
    assert_eq!(c.request_timeout, Duration::from_secs(90));
    assert_eq!(c.retry.max_attempts, 5);
    assert_eq!(c.retry.initial_delay, Duration::from_millis(250));
    assert_eq!(c.retry.max_delay, Duration::from_secs(20));
    assert_eq!(c.retry.backoff_multiplier, 1.5);
    assert!(c.cache.enabled);
    assert_eq!(c.cache.directory, PathBuf::from("/var/cache/velox"));
    assert_eq!(c.cache.max_size_bytes, 3 * 512 * 1024 * 1024);
    assert_eq!(c.cache.max_entries, 42);
    assert_eq!(c.cache.max_age, Duration::from_secs(7 * 86_400));
    assert_eq!(c.cache.cleanup_interval, Duration::from_secs(1800));
    assert_eq!(c.cache.eviction_policy, EvictionPolicy::Fifo);
    assert_eq!(c.cache.access_update_interval, Duration::ZERO);
    assert_eq!(
        c.allowed_build_dirs,
        vec![std::fs::canonicalize(dir.path()).unwrap()]
    );
    assert!(c.keep_abandoned_builds);
    assert_eq!(c.log_level.as_deref(), Some("debug"));
    assert_eq!(
        c.local,
        LocalBuildConfig {
            max_concurrent: 2,
            queue_limit: 0,
            work_dir: PathBuf::from("/var/tmp/velox-builds"),
            go_binary: PathBuf::from("/usr/local/go/bin/go"),
            source: SourceMode::Generated,
        }
    );
}

#[test]
fn strings_are_accepted_for_numbers_and_booleans() {
    let c = cfg(json!({
        "retry": {"max_attempts": "7", "backoff_multiplier": "3"},
        "cache": {"enabled": "true", "max_entries": "10", "max_size_gb": "0.5", "max_age_days": "2"}
    }))
    .unwrap();
    assert_eq!(c.retry.max_attempts, 7);
    assert_eq!(c.retry.backoff_multiplier, 3.0);
    assert!(c.cache.enabled);
    assert_eq!(c.cache.max_entries, 10);
    assert_eq!(c.cache.max_size_bytes, 512 * 1024 * 1024);
    assert_eq!(c.cache.max_age, Duration::from_secs(2 * 86_400));
}

#[test]
fn zero_means_default_where_the_seed_said_so() {
    let c = cfg(json!({
        "build_timeout": "0s",
        "request_timeout": 0,
        "retry": {"max_attempts": 0, "initial_delay": "0", "max_delay": "0s", "backoff_multiplier": 0},
        "cache": {"directory": "", "eviction_policy": ""}
    }))
    .unwrap();
    let d = Config::default();
    assert_eq!(
        (c.build_timeout, c.request_timeout),
        (d.build_timeout, d.request_timeout)
    );
    assert_eq!(c.retry, d.retry);
    assert_eq!(c.cache, d.cache);
}

#[test]
fn explicit_zero_intervals_mean_never_and_at_once() {
    let c = cfg(json!({"cache": {"cleanup_interval": "0s", "access_update_interval": 0}})).unwrap();
    assert_eq!(c.cache.cleanup_interval, Duration::ZERO);
    assert_eq!(c.cache.access_update_interval, Duration::ZERO);
}

#[test]
fn empty_server_url_means_no_server() {
    assert_eq!(cfg(json!({"server_url": ""})).unwrap().server_url, None);
    assert_eq!(cfg(json!({"server_url": null})).unwrap().server_url, None);
    assert_eq!(
        cfg(json!({"server_url": "https://velox.example.com/base"}))
            .unwrap()
            .server_url
            .as_deref(),
        Some("https://velox.example.com/base")
    );
}

#[test]
fn every_bad_value_names_its_key() {
    let cases = [
        (json!({"server_url": "ftp://x"}), "server_url"),
        (json!({"server_url": "127.0.0.1:9000"}), "server_url"),
        (json!({"server_url": "http://x/?a=b"}), "server_url"),
        (json!({"server_url": 5}), "server_url"),
        (json!({"build_timeout": "500ms"}), "build_timeout"),
        (json!({"build_timeout": 300}), "build_timeout"),
        (json!({"build_timeout": "5 minutes"}), "build_timeout"),
        (json!({"build_timeout": "-5m"}), "build_timeout"),
        (json!({"request_timeout": "0.5s"}), "request_timeout"),
        (json!({"request_timeout": true}), "request_timeout"),
        (json!({"retry": 3}), "retry"),
        (json!({"retry": {"max_attempts": -1}}), "retry.max_attempts"),
        (
            json!({"retry": {"max_attempts": 1.5}}),
            "retry.max_attempts",
        ),
        (
            json!({"retry": {"max_attempts": "three"}}),
            "retry.max_attempts",
        ),
        (
            json!({"retry": {"initial_delay": "1x"}}),
            "retry.initial_delay",
        ),
        (
            json!({"retry": {"initial_delay": "5s", "max_delay": "2s"}}),
            "retry.max_delay",
        ),
        (
            json!({"retry": {"backoff_multiplier": 0.5}}),
            "retry.backoff_multiplier",
        ),
        (
            json!({"retry": {"backoff_multiplier": "fast"}}),
            "retry.backoff_multiplier",
        ),
        (json!({"retry": {"attempts": 3}}), "retry.attempts"),
        (json!({"cache": {"enabled": "maybe"}}), "cache.enabled"),
        (json!({"cache": {"directory": 1}}), "cache.directory"),
        (json!({"cache": {"max_size_gb": -1}}), "cache.max_size_gb"),
        (json!({"cache": {"max_entries": -1}}), "cache.max_entries"),
        (
            json!({"cache": {"max_age_days": "a week"}}),
            "cache.max_age_days",
        ),
        (
            json!({"cache": {"cleanup_interval": 60}}),
            "cache.cleanup_interval",
        ),
        (
            json!({"cache": {"eviction_policy": "random"}}),
            "cache.eviction_policy",
        ),
        (
            json!({"cache": {"access_update_interval": "5"}}),
            "cache.access_update_interval",
        ),
        (
            json!({"cache": {"evction_policy": "lru"}}),
            "cache.evction_policy",
        ),
        (json!({"allowed_build_dirs": []}), "allowed_build_dirs"),
        (json!({"allowed_build_dirs": 3}), "allowed_build_dirs"),
        (
            json!({"allowed_build_dirs": ["/definitely/not/here/vxm"]}),
            "allowed_build_dirs[0]",
        ),
        (
            json!({"allowed_build_dirs": ["/", ""]}),
            "allowed_build_dirs[1]",
        ),
        (
            json!({"allowed_build_dirs": ["/etc/hostname"]}),
            "allowed_build_dirs[0]",
        ),
        (
            json!({"keep_abandoned_builds": "sometimes"}),
            "keep_abandoned_builds",
        ),
        (json!({"library_path": 1}), "library_path"),
        (json!({"log_level": "loud"}), "log_level"),
        (json!({"server": "http://x"}), "server"),
        (json!({"local_builds": 0}), "local_builds"),
        (json!({"local_builds": "many"}), "local_builds"),
        (json!({"local_build_queue": -1}), "local_build_queue"),
        (
            json!({"local_build_dir": "relative/dir"}),
            "local_build_dir",
        ),
        (json!({"go_binary": 1}), "go_binary"),
        (
            json!({"local_build_source": "github"}),
            "local_build_source",
        ),
        (json!([1]), "velox"),
    ];
    for (v, key) in cases {
        assert_eq!(key_of_error(v.clone()), key, "{v}");
    }
    match Config::from_json(b"{not json") {
        Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, "velox"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bare_number_duration_asks_for_a_unit() {
    match cfg(json!({"build_timeout": 300})) {
        Err(e @ Error::InvalidConfig { .. }) => {
            let text = e.to_string();
            assert!(text.contains("\"300s\""), "{text}");
            assert!(text.contains("nanoseconds"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

// Accepted values and refusals were checked against Go 1.26's time.ParseDuration at
// authoring time (a throwaway `go run` printing d.Nanoseconds() and err for each string);
// the only intended difference is that negative durations other than -0 are refused.
#[test]
fn go_duration_forms() {
    let ok = [
        ("0", Duration::ZERO),
        ("0s", Duration::ZERO),
        ("-0", Duration::ZERO),
        ("00s", Duration::ZERO),
        ("1h1h", Duration::from_secs(7200)),
        ("0.0000000001s", Duration::ZERO),
        (
            "2562047h47m16.854775807s",
            Duration::from_nanos(i64::MAX as u64),
        ),
        ("+5s", Duration::from_secs(5)),
        ("5m", Duration::from_secs(300)),
        ("180s", Duration::from_secs(180)),
        ("1h30m", Duration::from_secs(5400)),
        ("250ms", Duration::from_millis(250)),
        ("1.5s", Duration::from_millis(1500)),
        (".5s", Duration::from_millis(500)),
        ("1.s", Duration::from_secs(1)),
        ("2h45m30.5s", Duration::from_millis(9_930_500)),
        ("10us", Duration::from_micros(10)),
        ("10\u{b5}s", Duration::from_micros(10)),
        ("10\u{3bc}s", Duration::from_micros(10)),
        ("7ns", Duration::from_nanos(7)),
        ("1.0000000009s", Duration::from_secs(1)),
        ("2562047h", Duration::from_secs(2_562_047 * 3600)),
    ];
    for (s, d) in ok {
        assert_eq!(parse_go_duration(s), Ok(d), "{s}");
    }
    for bad in [
        "", "s", "5", "1.5", "-1s", "5 m", "5M", "1d", ".s", "1h-5m", "3000000h", "1e3s",
    ] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
    }
}

mod properties {
    use proptest::prelude::*;
    use std::time::Duration;
    use velox_core::config::parse_go_duration;
    use velox_core::Config;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Config::from_json(&body);
        }

        #[test]
        fn arbitrary_duration_strings_never_panic(s in "\\PC{0,24}|[0-9.hmsuµn+-]{0,24}") {
            let _ = parse_go_duration(&s);
        }

        #[test]
        fn whole_units_add_up(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
            let text = format!("{h}h{m}m{s}s{ms}ms");
            let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
            prop_assert_eq!(parse_go_duration(&text), Ok(expected));
        }
    }
}

/// Every number has an upper bound, checked at parse time with an error naming the key
/// (a multiplier of 1e300 used to pass and then panic on every retry).
#[test]
fn every_number_is_bounded_naming_the_key() {
    let cases = [
        (json!({"build_timeout": "169h"}), "build_timeout"),
        (json!({"request_timeout": "2000000h"}), "request_timeout"),
        (
            json!({"retry": {"max_attempts": 101}}),
            "retry.max_attempts",
        ),
        (
            json!({"retry": {"max_attempts": u64::MAX}}),
            "retry.max_attempts",
        ),
        (
            json!({"retry": {"initial_delay": "2h", "max_delay": "3h"}}),
            "retry.initial_delay",
        ),
        (json!({"retry": {"max_delay": "61m"}}), "retry.max_delay"),
        (
            json!({"retry": {"backoff_multiplier": 1e300}}),
            "retry.backoff_multiplier",
        ),
        (
            json!({"retry": {"backoff_multiplier": "101"}}),
            "retry.backoff_multiplier",
        ),
        (
            json!({"cache": {"max_size_gb": 1e300}}),
            "cache.max_size_gb",
        ),
        (
            json!({"cache": {"max_entries": 100_000_001u64}}),
            "cache.max_entries",
        ),
        (
            json!({"cache": {"max_age_days": 36_501}}),
            "cache.max_age_days",
        ),
        (
            json!({"cache": {"cleanup_interval": "1ns"}}),
            "cache.cleanup_interval",
        ),
        (
            json!({"cache": {"cleanup_interval": "169h"}}),
            "cache.cleanup_interval",
        ),
        (
            json!({"cache": {"access_update_interval": "999ms"}}),
            "cache.access_update_interval",
        ),
        (json!({"local_builds": 1025}), "local_builds"),
        (json!({"local_build_queue": 1_000_001}), "local_build_queue"),
    ];
    for (v, key) in cases {
        assert_eq!(key_of_error(v.clone()), key, "{v}");
    }
    // The bounds themselves are accepted, and an explicit 0 still turns intervals off.
    let c = cfg(json!({
        "build_timeout": "168h",
        "retry": {"max_attempts": 100, "max_delay": "1h", "backoff_multiplier": 100},
        "cache": {"cleanup_interval": "1s", "access_update_interval": 0, "max_age_days": 36_500},
    }))
    .unwrap();
    assert_eq!(c.cache.cleanup_interval, Duration::from_secs(1));
    assert_eq!(c.cache.access_update_interval, Duration::ZERO);
    assert_eq!(c.retry.backoff_multiplier, 100.0);
}

/// Duplicate keys are refused at any depth, as in build requests.
#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    for (raw, key) in [
        (
            r#"{"build_timeout":"1s","build_timeout":"999h"}"#,
            "build_timeout",
        ),
        (
            r#"{"cache":{"enabled":true,"enabled":false}}"#,
            "cache.enabled",
        ),
        (
            r#"{"retry":{"max_attempts":1},"retry":{"max_attempts":3}}"#,
            "retry",
        ),
    ] {
        match Config::from_json(raw.as_bytes()) {
            Err(Error::InvalidConfig { key: k, reason }) => {
                assert_eq!(k, key, "{raw}");
                assert!(reason.contains("twice"), "{reason}");
            }
            other => panic!("{raw} should be refused, got {other:?}"),
        }
    }
}

/// `{"a": {"b": v}}` for the dotted name `a.b`.
fn nested(name: &str, v: Value) -> Value {
    name.rsplit('.')
        .fold(v, |inner, part| json!({ part: inner }))
}

/// A key given on its own, with what it needs to be read (the remote tier's keys are
/// only read when its url is set).
fn alone(k: &Key, v: Value) -> Value {
    let mut doc = nested(k.name, v);
    if k.name.starts_with("cache.remote.") && k.name != keys::CACHE_REMOTE_URL.name {
        doc["cache"]["remote"]["url"] = json!("s3://velox-test");
    }
    doc
}

#[test]
fn every_literal_default_written_out_gives_the_defaults() {
    let mut doc = json!({});
    for k in keys::KEYS {
        if let Some(lit) = k.default_literal() {
            merge(&mut doc, nested(k.name, json!(lit)));
        }
    }
    assert_eq!(cfg(doc).unwrap(), Config::default());
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[test]
fn every_key_refuses_a_wrong_type_naming_itself() {
    for k in keys::KEYS {
        assert_eq!(key_of_error(alone(k, json!({"x": 1}))), k.name);
    }
}

#[test]
fn every_word_of_a_choice_is_accepted() {
    for k in keys::KEYS {
        if let Kind::OneOf(words) = k.kind {
            for w in words {
                let upper = w.to_ascii_uppercase();
                assert!(cfg(alone(k, json!(upper))).is_ok(), "{}: {w}", k.name);
            }
            assert_eq!(key_of_error(alone(k, json!("nonsense"))), k.name);
        }
    }
}

/// The table's bounds are the parser's: just outside them is refused naming the key.
#[test]
fn every_bound_in_the_table_is_enforced() {
    for k in keys::KEYS {
        let mut outside = Vec::new();
        match k.kind {
            Kind::Duration { min, max, zero } => {
                if let Some(max) = max {
                    outside.push(json!(format!("{}ms", max.as_millis() + 1)));
                }
                if !min.is_zero() {
                    outside.push(json!(format!("{}ns", min.as_nanos() - 1)));
                }
                let _ = zero;
            }
            Kind::Integer { min, max, zero } => {
                outside.push(json!(max + 1));
                if min > 0 && zero == Zero::Plain {
                    outside.push(json!(min - 1));
                }
            }
            Kind::Number { min, max, .. } => {
                outside.push(json!(max * 1.5));
                outside.push(json!(if min == 0.0 { -1.0 } else { min / 2.0 }));
            }
            Kind::Flag | Kind::Text | Kind::OneOf(_) | Kind::Dirs => {}
        }
        for v in outside {
            assert_eq!(key_of_error(alone(k, v.clone())), k.name, "{v}");
        }
    }
}
