//! Entries written before verification (or by the seed plugin) carry no `provenance`:
//! an engine with `verify_builds` checks each once in the background; a match gains its
//! provenance in its metadata, a mismatch (or a binary that is no Go executable) is
//! moved aside and counted.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use velox_core::Engine;
use velox_testkit::cache_fixture::{http_request as req, seed_entry};
use velox_testkit::go_exe::GoExe;

fn metadata(dir: &Path, k: &str) -> Option<Value> {
    let raw = fs::read(dir.join(format!("{k}.json"))).ok()?;
    serde_json::from_slice(&raw).ok()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn old_entries_are_verified_once_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    fs::create_dir_all(&dir).unwrap();
    let good = seed_entry(
        &dir,
        &req("v5.3.0"),
        &GoExe::for_request(&req("v5.3.0")).to_bytes(),
        json!({}),
    );
    // Another combination's build under this key.
    let wrong = seed_entry(
        &dir,
        &req("v5.3.1"),
        &GoExe::for_request(&req("v5.3.0")).to_bytes(),
        json!({}),
    );
    let not_go = seed_entry(
        &dir,
        &req("v5.3.2"),
        b"#!/bin/sh\necho not a go binary\n",
        json!({}),
    );

    let engine = Engine::new(
        json!({"server_url": "http://127.0.0.1:9", "cache": {"enabled": true, "directory": dir}, "verify_builds": true})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    wait_until("the good entry's provenance", || {
        metadata(&dir, &good).is_some_and(|m| m.get("provenance").is_some())
    });
    let m = metadata(&dir, &good).unwrap();
    let p = &m["provenance"];
    assert_eq!(p["goos"], "linux");
    assert_eq!(p["plugins"][0]["version"], "v5.3.0");
    // The seed's fields are all still there.
    assert_eq!(m["access_count"], 1);

    wait_until("the bad entries moved aside", || {
        !dir.join(format!("{wrong}.bin")).exists() && !dir.join(format!("{not_go}.bin")).exists()
    });
    for k in [&wrong, &not_go] {
        assert!(!dir.join(format!("{k}.json")).exists(), "{k}");
        assert!(
            dir.join("mismatched").join(format!("{k}.bin")).exists(),
            "{k}"
        );
    }
    let stats: Value = serde_json::from_str(&engine.stats_json().unwrap()).unwrap();
    assert_eq!(stats["provenance_mismatches"], 2, "{stats}");
    assert_eq!(stats["evictions_by_reason"]["mismatch"], 2, "{stats}");
    assert_eq!(stats["entries"], 1, "{stats}");
    engine.shutdown();

    // A second engine finds everything settled: nothing moved, nothing counted.
    let again = Engine::new(
        json!({"server_url": "http://127.0.0.1:9", "cache": {"enabled": true, "directory": dir}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stats: Value = serde_json::from_str(&again.stats_json().unwrap()).unwrap();
    assert_eq!(stats["provenance_mismatches"], 0, "{stats}");
    assert!(dir.join(format!("{good}.bin")).exists());
    again.shutdown();
}
