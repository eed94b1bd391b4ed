//! `velox-cache`: look at and maintain a cache directory from the command line, with the
//! library's own cache code (see `src/main.rs`).
//!
//! `stats`, `ls` and `verify` only read (`cache::inspect`). `prune` and `rm` open the
//! cache like RoadRunner does (shared lock for commits, exclusive only for a
//! non-blocking sweep), so they are safe next to a running server; that server notices
//! the removals at its next lookup or cleanup.

mod args;
mod provenance;
mod remote;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub use args::{Command, Options, USAGE};
use velox_core::cache::inspect::{self, Inspection};
use velox_core::cache::Cache;
use velox_core::config::{keys, CacheConfig, Config, EvictionPolicy};
use velox_core::request::CacheKey;
use velox_core::stats::Stats;

/// Exit statuses: 0 fine, 1 the command found a problem (verify) or nothing to do
/// (rm of an unknown key), 2 a usage or configuration error, 3 an I/O error.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let (command, opts) = match args::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("velox-cache: {e}\n\n{USAGE}");
            return 2;
        }
    };
    if command == Command::Help {
        println!("{USAGE}");
        return 0;
    }
    if matches!(
        command,
        Command::RemoteLs | Command::RemoteVerify | Command::RemotePrune
    ) {
        return remote::main(&command, &opts);
    }
    let cfg = match cache_config(&opts) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("velox-cache: {e}");
            return 2;
        }
    };
    finish(
        run(&command, &cfg, opts.json).map(|o| (o.text, o.json, o.code)),
        opts.json,
    )
}

/// Prints what a command found (text, or `json` with `--json`) and returns its exit
/// status; an error is an I/O error (3).
fn finish(result: Result<(String, Value, i32), String>, json: bool) -> i32 {
    match result {
        Ok((text, value, code)) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&value).expect("json"));
            } else {
                print!("{text}");
            }
            code
        }
        Err(e) => {
            eprintln!("velox-cache: {e}");
            3
        }
    }
}

struct Outcome {
    text: String,
    json: Value,
    code: i32,
}

/// The cache section from `--config` with the options applied over it, validated by
/// the library's configuration parser (same keys, same errors as `.rr.yaml`).
fn cache_config(opts: &Options) -> Result<CacheConfig, String> {
    let mut cache = Map::new();
    if let Some(path) = &opts.config {
        let raw = std::fs::read(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
        let v: Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("--config {}: not JSON: {e}", path.display()))?;
        let section = v.get("velox").unwrap_or(&v);
        if let Some(c) = section.get("cache").and_then(Value::as_object) {
            cache = c.clone();
        }
    }
    if let Some(dir) = &opts.dir {
        cache.insert("directory".into(), json!(dir));
    }
    if !cache.contains_key("directory") {
        return Err("no cache directory: give --dir or a --config with cache.directory".into());
    }
    for (key, value) in [
        (
            &keys::CACHE_EVICTION_POLICY,
            opts.policy.as_ref().map(|p| json!(p)),
        ),
        (&keys::CACHE_MAX_SIZE_GB, opts.max_size_gb.map(|v| json!(v))),
        (&keys::CACHE_MAX_ENTRIES, opts.max_entries.map(|v| json!(v))),
        (
            &keys::CACHE_MAX_AGE_DAYS,
            opts.max_age_days.map(|v| json!(v)),
        ),
    ] {
        if let Some(v) = value {
            cache.insert(key.leaf().into(), v);
        }
    }
    cache.insert("enabled".into(), json!(true));
    // No periodic work in a short-lived tool; access statistics are not touched.
    cache.insert("cleanup_interval".into(), json!("0"));
    let config = Config::from_json(json!({ "cache": cache }).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(config.cache)
}

fn run(command: &Command, cfg: &CacheConfig, json: bool) -> Result<Outcome, String> {
    let dir = &cfg.directory;
    match command {
        Command::Stats => {
            let found = look(dir, cfg.eviction_policy)?;
            Ok(report::stats(&found, cfg, now()))
        }
        Command::Ls => {
            let found = look(dir, cfg.eviction_policy)?;
            Ok(report::ls(&found, cfg, now()))
        }
        Command::Verify {
            content,
            provenance,
        } => {
            let mut found = look(dir, cfg.eviction_policy)?;
            if *content {
                let checked: Vec<_> = found
                    .entries
                    .iter()
                    .filter_map(|e| inspect::check_content(&found.directory, e))
                    .collect();
                found.problems.extend(checked);
            }
            let proven = provenance.then(|| provenance::check_all(&found));
            Ok(report::verify(&found, *content, proven.as_deref()))
        }
        Command::Inspect { key } => provenance::inspect(&canonical(dir)?, key),
        Command::Prune => prune(cfg),
        Command::Rm { key } => rm(cfg, key, json),
        Command::Help | Command::RemoteLs | Command::RemoteVerify | Command::RemotePrune => {
            unreachable!("handled by main")
        }
    }
}

fn look(dir: &Path, policy: EvictionPolicy) -> Result<Inspection, String> {
    let dir = canonical(dir)?;
    inspect::inspect(&dir, policy).map_err(|e| format!("{}: {e}", dir.display()))
}

fn canonical(dir: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn prune(cfg: &CacheConfig) -> Result<Outcome, String> {
    let dir = canonical(&cfg.directory)?;
    let before = inspect::inspect(&dir, cfg.eviction_policy).map_err(|e| e.to_string())?;
    let stats = Arc::new(Stats::default());
    // Opening sweeps leftovers (only when no commit is in progress anywhere) and applies
    // the limits; cleanup does both again with the index it has just loaded.
    let cache = Cache::open(cfg, stats.clone()).map_err(|e| e.to_string())?;
    let cleaned = cache.cleanup();
    let usage = cache.usage();
    cache.close();
    cleaned.map_err(|e| e.to_string())?;
    Ok(report::prune(&before, usage, &stats))
}

fn rm(cfg: &CacheConfig, key: &str, _json: bool) -> Result<Outcome, String> {
    let Some(key) = CacheKey::parse(key) else {
        return Ok(Outcome {
            text: format!("{key:?} is not a cache key (64 lowercase hex characters)\n"),
            json: json!({ "removed": false, "key": key, "error": "not a cache key" }),
            code: 2,
        });
    };
    canonical(&cfg.directory)?;
    // No limits here: removing one entry must not evict others as a side effect.
    let unlimited = CacheConfig {
        max_size_bytes: 0,
        max_entries: 0,
        max_age: Duration::ZERO,
        cleanup_interval: Duration::ZERO,
        ..cfg.clone()
    };
    let cache = Cache::open(&unlimited, Arc::new(Stats::default())).map_err(|e| e.to_string())?;
    let removed = cache.remove(&key).map_err(|e| e.to_string());
    cache.close();
    let removed = removed?;
    Ok(Outcome {
        text: if removed {
            format!("removed {key}\n")
        } else {
            format!("no entry {key}\n")
        },
        json: json!({ "removed": removed, "key": key.as_str() }),
        code: if removed { 0 } else { 1 },
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
