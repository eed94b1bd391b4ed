//! Where misses are built is chosen explicitly: `server_url` (a Velox server) or
//! `local_build_enabled: true` (this host's go). Neither, or both, fails the engine's
//! creation with an error naming the key; local builds also need a `go_binary` that runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use velox_core::config::BuildPath;
use velox_core::engine::Engine;
use velox_core::local::check_go;
use velox_core::{Config, Error};

/// A stand-in go: a shell script with `body` as its text.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn working_go(dir: &Path) -> PathBuf {
    script(dir, "go", "echo 'go version go1.26.8 linux/amd64'")
}

/// The key and message of the engine's refusal of `config`.
fn refusal(config: Value) -> (String, String) {
    match Engine::new(config.to_string().as_bytes()) {
        Err(e @ Error::InvalidConfig { .. }) => {
            let Error::InvalidConfig { key, .. } = &e else {
                unreachable!()
            };
            (key.clone(), e.to_string())
        }
        Err(other) => panic!("{config}: want InvalidConfig, got {other:?}"),
        Ok(_) => panic!("{config}: the engine was created"),
    }
}

#[test]
fn without_server_url_or_local_builds_the_engine_is_refused_naming_server_url() {
    let tmp = tempfile::tempdir().unwrap();
    let go = working_go(tmp.path());
    // Absent, empty (an unset ${VELOX_URL}), blank, null: all the same. A working go and
    // the local_* keys do not switch local builds on by themselves.
    for server_url in [None, Some(json!("")), Some(json!("  ")), Some(Value::Null)] {
        let mut config = json!({"go_binary": go, "local_builds": 1});
        if let Some(v) = server_url.clone() {
            config["server_url"] = v;
        }
        let (key, message) = refusal(config);
        assert_eq!(key, "server_url", "{server_url:?}");
        assert!(message.contains("is required"), "{message}");
        assert!(
            message.contains("local_build_enabled: true"),
            "the message says how to opt in: {message}"
        );
    }
    // The same explicitly off, as a bool or as an environment override's string.
    for off in [json!(false), json!("false")] {
        let (key, _) = refusal(json!({"local_build_enabled": off, "go_binary": go}));
        assert_eq!(key, "server_url");
    }
}

#[test]
fn server_url_and_local_builds_together_are_refused_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let go = working_go(tmp.path());
    for on in [json!(true), json!("true")] {
        let (key, message) = refusal(json!({
            "server_url": "http://127.0.0.1:9",
            "local_build_enabled": on,
            "go_binary": go,
        }));
        assert_eq!(key, "local_build_enabled");
        assert!(message.contains("server_url"), "{message}");
    }
}

#[test]
fn local_build_enabled_must_be_a_boolean() {
    for bad in [json!("yes"), json!(1.5), json!(["true"])] {
        match Config::from_json(json!({"local_build_enabled": bad}).to_string().as_bytes()) {
            Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, "local_build_enabled"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let parsed = |v: Value| {
        Config::from_json(json!({"local_build_enabled": v}).to_string().as_bytes())
            .unwrap()
            .local_build_enabled
    };
    assert!(parsed(json!(true)) && parsed(json!("true")) && parsed(json!("TRUE")));
    assert!(!parsed(json!(false)) && !parsed(json!("false")) && !parsed(Value::Null));
}

#[test]
fn the_build_path_is_the_one_key_given() {
    let cfg = |v: Value| Config::from_json(v.to_string().as_bytes()).unwrap();
    let velox = cfg(json!({"server_url": "http://127.0.0.1:9000/"}));
    assert_eq!(
        velox.build_path().unwrap(),
        BuildPath::Velox("http://127.0.0.1:9000")
    );
    let local = cfg(json!({"local_build_enabled": true}));
    assert_eq!(local.build_path().unwrap(), BuildPath::Local);
    // Parsing alone accepts a section without either (the velox-cache tool reads only
    // `cache`); the engine is what needs a build path.
    assert!(cfg(json!({})).build_path().is_err());
}

#[test]
fn a_velox_engine_never_runs_go() {
    let engine = Engine::new(
        json!({"server_url": "http://127.0.0.1:9", "go_binary": "/nonexistent/go"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    engine.shutdown();
}

#[test]
fn local_builds_start_when_go_version_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let go = working_go(tmp.path());
    let engine = Engine::new(
        json!({"local_build_enabled": true, "go_binary": go})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    engine.shutdown();
    assert_eq!(
        check_go(&go, Duration::from_secs(30)).unwrap(),
        "go version go1.26.8 linux/amd64"
    );
}

#[test]
fn local_builds_with_a_missing_go_are_refused_naming_go_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-go");
    let (key, message) = refusal(json!({"local_build_enabled": true, "go_binary": missing}));
    assert_eq!(key, "go_binary");
    assert!(message.contains(&*missing.to_string_lossy()), "{message}");
    assert!(message.contains("cannot be run"), "{message}");
    // A bare name is looked up in PATH, and not found there either.
    let (key, _) = refusal(json!({"local_build_enabled": true, "go_binary": "vxm-no-such-go-xyz"}));
    assert_eq!(key, "go_binary");
    // Nothing was created for a refused engine: the cache directory does not exist.
    let cache = tmp.path().join("cache");
    refusal(json!({
        "local_build_enabled": true,
        "go_binary": missing,
        "cache": {"enabled": true, "directory": cache},
    }));
    assert!(!cache.exists());
}

#[test]
fn local_builds_with_a_failing_go_are_refused_with_its_message() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = script(
        tmp.path(),
        "go",
        "echo 'go: cannot find GOROOT directory' >&2; exit 2",
    );
    let (key, message) = refusal(json!({"local_build_enabled": true, "go_binary": broken}));
    assert_eq!(key, "go_binary");
    assert!(
        message.contains("cannot find GOROOT directory"),
        "{message}"
    );
}

#[test]
fn a_go_that_hangs_is_killed_after_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let hung = script(tmp.path(), "go", "exec sleep 60");
    let started = Instant::now();
    let err = check_go(&hung, Duration::from_millis(500)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "check_go did not stop at its timeout: {:?}",
        started.elapsed()
    );
    let Error::InvalidConfig { key, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(key, "go_binary");
    assert!(reason.contains("did not finish"), "{reason}");
}
