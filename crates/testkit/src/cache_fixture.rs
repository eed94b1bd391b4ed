//! Shared helpers for the cache tests: configs, requests, keys computed independently
//! (sha2 over the seed's canonical string), source binaries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use velox_core::cache::{Cache, CacheOptions, Ingest, ManualClock};
use velox_core::config::{CacheConfig, EvictionPolicy};
use velox_core::request::{BuildRequest, CacheKey};
use velox_core::stats::Stats;

pub fn config(dir: &Path) -> CacheConfig {
    CacheConfig {
        enabled: true,
        directory: dir.to_path_buf(),
        max_size_bytes: 0,
        max_entries: 0,
        max_age: Duration::ZERO,
        cleanup_interval: Duration::ZERO,
        eviction_policy: EvictionPolicy::Lru,
        access_update_interval: Duration::from_secs(3600),
    }
}

pub struct Opened {
    pub cache: Cache,
    pub clock: Arc<ManualClock>,
    pub stats: Arc<Stats>,
}

pub fn open(cfg: &CacheConfig) -> Opened {
    open_with(cfg, Ingest::ReflinkOrCopy)
}

pub fn open_with(cfg: &CacheConfig, ingest: Ingest) -> Opened {
    open_on_clock(cfg, ingest, Arc::new(ManualClock::starting_now()))
}

/// Opens on a clock the caller keeps, for tests that reopen a cache and let time run on.
pub fn open_on_clock(cfg: &CacheConfig, ingest: Ingest, clock: Arc<ManualClock>) -> Opened {
    let stats = Arc::new(Stats::default());
    let cache = Cache::open_with(
        cfg,
        stats.clone(),
        CacheOptions {
            clock: clock.clone(),
            ingest,
            ..CacheOptions::default()
        },
    )
    .expect("cache opens");
    Opened {
        cache,
        clock,
        stats,
    }
}

/// A request whose plugin tag varies with `n`, so each `n` is its own build.
pub fn request(n: u32) -> BuildRequest {
    let json = format!(
        r#"{{"rr_version":"v2025.1.2","target_platform":{{"os":"linux","arch":"amd64"}},"plugins":[{{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.2.{n}"}}]}}"#
    );
    BuildRequest::parse(json.as_bytes()).expect("fixture request is valid")
}

/// The seed's key, computed here from its definition, not by the code under test.
pub fn seed_key(req: &BuildRequest) -> CacheKey {
    let mut plugins: Vec<_> = req
        .plugins
        .iter()
        .map(|p| (p.module_name.clone(), p.tag.clone()))
        .collect();
    plugins.sort();
    let mut s = format!(
        "{}|{}|{}",
        req.rr_version, req.target_platform.os, req.target_platform.arch
    );
    for (m, t) in plugins {
        s.push_str(&format!("|{m}@{t}"));
    }
    let hex: String = Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    CacheKey::parse(&hex).unwrap()
}

/// A file of `size` bytes whose content depends on `seed`.
pub fn binary(dir: &Path, name: &str, size: usize, seed: u8) -> PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Names in the directory, sorted, the bookkeeping files (`.velox.*`: locks, usage)
/// excluded.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with(".velox."))
        .collect();
    names.sort();
    names
}

/// Reads the whole file through the artifact's descriptor (pread: no shared offset).
pub fn read_all(file: &std::fs::File, size: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; size as usize];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// A request for RoadRunner v2025.1.5 on linux/amd64 with the http plugin at `tag`.
pub fn http_request(tag: &str) -> BuildRequest {
    BuildRequest::with_plugins(
        "v2025.1.5",
        "linux",
        "amd64",
        &[("github.com/roadrunner-server/http/v5", tag)],
    )
}

/// Writes an entry as the seed plugin does (no `sha256`, no `provenance`) for `req`,
/// holding `binary`, with `extra` fields added to its metadata; returns its key.
pub fn seed_entry(
    dir: &Path,
    req: &BuildRequest,
    binary: &[u8],
    extra: serde_json::Value,
) -> String {
    let k = req.key().to_string();
    std::fs::write(dir.join(format!("{k}.bin")), binary).unwrap();
    let mut meta = serde_json::json!({
        "version": "1.0", "hash": k, "binary_file": format!("{k}.bin"),
        "file_size": binary.len(), "rr_version": req.rr_version,
        "platform": {"os": req.target_platform.os, "arch": req.target_platform.arch},
        "plugins": req.plugins, "created_at": 1_700_000_000i64,
        "last_accessed": 1_700_000_000i64, "access_count": 1, "build_duration_ms": 1000,
    });
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    std::fs::write(
        dir.join(format!("{k}.json")),
        serde_json::to_vec_pretty(&meta).unwrap(),
    )
    .unwrap();
    k
}
