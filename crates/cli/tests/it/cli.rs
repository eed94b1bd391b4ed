//! `velox-cache` run as a process on real temporary directories.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use velox_core::cache::{Cache, CacheOptions, ManualClock};
use velox_core::config::{CacheConfig, EvictionPolicy};
use velox_core::stats::Stats;
use velox_core::BuildRequest;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(c: char) -> String {
    c.to_string().repeat(64)
}

/// Writes a committed entry the way the seed plugin does, with chosen timestamps.
fn entry(dir: &Path, k: &str, size: usize, created_ago: i64, accessed_ago: i64, count: u64) {
    fs::write(dir.join(format!("{k}.bin")), vec![7u8; size]).unwrap();
    let meta = serde_json::json!({
        "version": "1.0", "hash": k, "binary_file": format!("{k}.bin"), "file_size": size,
        "rr_version": "v2025.1.5", "platform": {"os": "linux", "arch": "amd64"},
        "plugins": null, "created_at": now() - created_ago,
        "last_accessed": now() - accessed_ago, "access_count": count,
        "build_duration_ms": 1000,
    });
    fs::write(
        dir.join(format!("{k}.json")),
        serde_json::to_vec_pretty(&meta).unwrap(),
    )
    .unwrap();
}

pub(super) struct Run {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

pub(super) fn cli(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_velox-cache"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn listing(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|d| {
            let d = d.unwrap();
            let m = d.metadata().unwrap();
            (
                d.file_name().into_string().unwrap(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn keys_in_order(run: &Run) -> Vec<String> {
    run.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap()[..1].to_owned())
        .collect()
}

#[test]
fn ls_lists_entries_in_the_policys_eviction_order() {
    let dir = tempfile::tempdir().unwrap();
    // a: oldest, used most, recently; b: newest, used once, long ago; c: in between.
    entry(dir.path(), &key('a'), 10, 300, 10, 9);
    entry(dir.path(), &key('b'), 10, 100, 200, 1);
    entry(dir.path(), &key('c'), 10, 200, 100, 5);
    let order = |policy| keys_in_order(&cli(dir.path(), &["ls", "--json", "--policy", policy]));
    assert_eq!(order("lru"), ["b", "c", "a"]);
    assert_eq!(order("lfu"), ["b", "c", "a"]);
    assert_eq!(order("fifo"), ["a", "c", "b"]);

    let human = cli(
        dir.path(),
        &["ls", "--policy", "fifo", "--max-entries", "2"],
    );
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("fifo eviction order"),
        "{}",
        human.stdout
    );
    let first = human.stdout.lines().nth(2).unwrap();
    assert!(
        first.contains("aaaa") && first.ends_with("count"),
        "{first}"
    );
}

#[test]
fn read_only_commands_change_nothing_in_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &key('a'), 10, 10, 10, 1);
    entry(dir.path(), &key('b'), 10, 10_000_000, 10, 1);
    fs::write(dir.path().join(format!("{}.bin", key('c'))), b"orphan").unwrap();
    fs::write(
        dir.path().join("temp_0000-in-progress.bin"),
        b"another process writing",
    )
    .unwrap();
    let before = listing(dir.path());
    for args in [
        &["stats", "--max-entries", "1", "--max-age-days", "1"][..],
        &["ls", "--max-entries", "1"],
        &["verify", "--content"],
        &["--json", "stats"],
    ] {
        cli(dir.path(), args);
    }
    assert_eq!(listing(dir.path()), before);
    let stats = cli(dir.path(), &["--json", "stats", "--max-age-days", "1"]).json();
    assert_eq!(stats["entries"], 2);
    assert_eq!(stats["bytes"], 20);
    assert_eq!(stats["prunable"], 1);
    assert_eq!(stats["problems"]["orphan_binary"], 1);
    assert_eq!(stats["problems"]["temp_file"], 1);
}

#[test]
fn verify_finds_orphans_and_size_mismatches_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &key('a'), 10, 10, 10, 1);
    let clean = cli(dir.path(), &["verify"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(clean.stdout.contains("--content"), "{}", clean.stdout);

    entry(dir.path(), &key('b'), 10, 10, 10, 1);
    fs::write(dir.path().join(format!("{}.bin", key('b'))), b"short").unwrap();
    entry(dir.path(), &key('c'), 10, 10, 10, 1);
    fs::remove_file(dir.path().join(format!("{}.bin", key('c')))).unwrap();
    fs::write(dir.path().join(format!("{}.bin", key('d'))), b"x").unwrap();

    let run = cli(dir.path(), &["verify", "--json", "--content"]);
    assert_eq!(run.code, 1);
    let v = run.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["content_checked"], true);
    assert_eq!(v["checksums_recorded"], 0);
    let kinds: Vec<(&str, char)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap(),
                p["file"].as_str().unwrap().chars().next().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("size_mismatch", 'b'),
            ("orphan_metadata", 'c'),
            ("orphan_binary", 'd')
        ]
    );
}

#[test]
fn verify_content_checks_the_recorded_sha256() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    for k in [key('a'), key('b')] {
        entry(dir.path(), &k, 10, 10, 10, 1);
        let json = dir.path().join(format!("{k}.json"));
        let mut meta: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
        let hash: String = Sha256::digest([7u8; 10])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        meta["sha256"] = hash.into();
        fs::write(&json, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    }
    let clean = cli(dir.path(), &["verify", "--content"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);

    // Same size, other bytes: only the hash can tell.
    fs::write(dir.path().join(format!("{}.bin", key('b'))), [8u8; 10]).unwrap();
    assert_eq!(cli(dir.path(), &["verify"]).code, 0);
    let run = cli(dir.path(), &["verify", "--json", "--content"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let v = run.json();
    assert_eq!(v["checksums_recorded"], 2);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "hash_mismatch");
    assert_eq!(problems[0]["file"], format!("{}.bin", key('b')));
}

#[test]
fn prune_applies_the_limits_now_and_reports_why() {
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &key('a'), 10, 10 * 86_400, 10, 1); // expired at 5 days
    entry(dir.path(), &key('b'), 10, 300, 300, 1); // least recently used
    entry(dir.path(), &key('c'), 10, 200, 20, 1);
    entry(dir.path(), &key('d'), 10, 100, 10, 1);
    let run = cli(
        dir.path(),
        &[
            "prune",
            "--json",
            "--max-age-days",
            "5",
            "--max-entries",
            "2",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["evicted"], 2);
    assert_eq!(v["by_reason"]["age"], 1);
    assert_eq!(v["by_reason"]["count"], 1);
    assert_eq!(
        keys_in_order(&cli(dir.path(), &["ls", "--json"])),
        ["c", "d"]
    );
}

#[test]
fn rm_removes_one_entry_and_says_when_there_was_none() {
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &key('a'), 10, 10, 10, 1);
    entry(dir.path(), &key('b'), 10, 10, 10, 1);
    // Limits given to rm are not applied: only the named entry goes.
    let run = cli(dir.path(), &["rm", &key('a'), "--max-entries", "0"]);
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, &*format!("removed {}", key('a')))
    );
    assert!(!dir.path().join(format!("{}.json", key('a'))).exists());
    assert!(dir.path().join(format!("{}.json", key('b'))).exists());
    assert_eq!(cli(dir.path(), &["rm", &key('a')]).code, 1);
    assert_eq!(cli(dir.path(), &["rm", "not-a-key"]).code, 2);
}

#[test]
fn config_section_is_read_and_validated_like_rr_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fs::create_dir(&cache).unwrap();
    entry(&cache, &key('a'), 10, 300, 10, 1);
    entry(&cache, &key('b'), 10, 100, 10, 1);
    let cfg = dir.path().join("velox.json");
    fs::write(
        &cfg,
        serde_json::json!({"velox": {"server_url": "http://127.0.0.1:1", "cache": {
            "enabled": true, "directory": cache, "eviction_policy": "fifo", "max_entries": 1}}})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_velox-cache"))
        .args(["ls", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"], "fifo");
    assert_eq!(v["entries"][0]["prune"], "count");

    fs::write(
        &cfg,
        serde_json::json!({"cache": {"directory": cache, "evction_policy": "lru"}}).to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_velox-cache"))
        .args(["stats", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("evction_policy"));
}

/// A RoadRunner (here: a `Cache` in this process) keeps working on a directory that the
/// tool prunes and removes from underneath it.
#[test]
fn prune_and_rm_are_safe_next_to_a_running_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CacheConfig {
        enabled: true,
        directory: dir.path().to_path_buf(),
        eviction_policy: EvictionPolicy::Fifo,
        cleanup_interval: std::time::Duration::ZERO,
        ..CacheConfig::default()
    };
    // Entries a second apart without sleeping: the running cache's clock is ours.
    let clock = Arc::new(ManualClock::new(now() - 100));
    let opts = CacheOptions {
        clock: clock.clone(),
        ..CacheOptions::default()
    };
    let running = Cache::open_with(&cfg, Arc::new(Stats::default()), opts).unwrap();
    let src = tempfile::tempdir().unwrap();
    let mut keys = Vec::new();
    for n in 0..3 {
        let req = BuildRequest::parse(
            format!(
                r#"{{"rr_version":"v2025.1.{n}","target_platform":{{"os":"linux","arch":"amd64"}},"plugins":[{{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.0"}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        let bin = src.path().join(format!("b{n}"));
        fs::write(&bin, vec![n as u8; 100]).unwrap();
        let key = req.key();
        running.store(&req, &key, &bin, 10).unwrap();
        keys.push(key);
        clock.advance(1);
    }
    let held = running.lookup(&keys[0]).unwrap().unwrap();

    let run = cli(
        dir.path(),
        &["prune", "--max-entries", "2", "--policy", "fifo"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(cli(dir.path(), &["rm", keys[2].as_str()]).code, 0);

    assert!(
        running.lookup(&keys[0]).unwrap().is_none(),
        "pruned entry still served"
    );
    assert!(
        running.lookup(&keys[2]).unwrap().is_none(),
        "removed entry still served"
    );
    assert!(running.lookup(&keys[1]).unwrap().is_some());
    // An artifact handed out before the prune is still readable in full.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &*held.file, &mut bytes).unwrap();
    assert_eq!(bytes, vec![0u8; 100]);
    running.cleanup().unwrap();
    assert_eq!(running.usage().entries, 1);
}

#[test]
fn prune_by_size_names_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    entry(dir.path(), &key('a'), 10, 300, 300, 1);
    entry(dir.path(), &key('b'), 10, 200, 200, 1);
    entry(dir.path(), &key('c'), 10, 100, 100, 1);
    let gb = format!("{}", 25.0 / (1u64 << 30) as f64);
    let ls = cli(dir.path(), &["ls", "--json", "--max-size-gb", &gb]).json();
    assert_eq!(ls["entries"][0]["prune"], "size");
    assert_eq!(ls["entries"][1]["prune"], Value::Null);
    let v = cli(dir.path(), &["prune", "--json", "--max-size-gb", &gb]).json();
    assert_eq!(v["by_reason"]["size"], 1, "{v}");
    assert_eq!(v["bytes"], 20);
    assert_eq!(
        keys_in_order(&cli(dir.path(), &["ls", "--json"])),
        ["b", "c"]
    );
}
