//! Shared helpers of the benches: requests, cache configs, seed-format directories.

use std::fs;
use std::path::Path;
use std::time::Duration;

use velox_core::config::{CacheConfig, EvictionPolicy};
use velox_core::request::BuildRequest;

/// A worker's request with `plugins` plugins whose tags vary with `n` (one build per `n`).
pub fn request_json(n: u32, plugins: usize) -> String {
    let list: Vec<String> = (0..plugins)
        .map(|i| {
            format!(
                r#"{{"module_name":"github.com/roadrunner-server/plugin{i}/v5","tag":"v5.{i}.{n}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"request_id":"7b0c6f5e-3a57-4a7e-9a53-2f7e8a3f4c11","rr_version":"v2025.1.15","target_platform":{{"os":"linux","arch":"amd64"}},"plugins":[{}]}}"#,
        list.join(",")
    )
}

pub fn request(n: u32, plugins: usize) -> BuildRequest {
    BuildRequest::parse(request_json(n, plugins).as_bytes()).expect("bench request is valid")
}

/// A cache config without background work, so that only the measured call runs.
pub fn cache_config(dir: &Path, max_entries: u64) -> CacheConfig {
    CacheConfig {
        enabled: true,
        directory: dir.to_path_buf(),
        max_size_bytes: 0,
        max_entries,
        max_age: Duration::ZERO,
        cleanup_interval: Duration::ZERO,
        eviction_policy: EvictionPolicy::Lru,
        access_update_interval: Duration::from_secs(3600),
    }
}

/// Writes `entries` entries the way the seed plugin lays them out (`{key}.bin` of
/// `bin_size` bytes + `{key}.json`), as a long-running seed deployment leaves them.
/// Access times increase with `n`, so LRU evicts the lowest `n` first.
pub fn write_seed_dir(dir: &Path, entries: u32, bin_size: usize) {
    fs::create_dir_all(dir).unwrap();
    let content = vec![0x5au8; bin_size];
    for n in 0..entries {
        let req = request(n, 2);
        let key = req.key();
        fs::write(dir.join(format!("{key}.bin")), &content).unwrap();
        let plugins: Vec<String> = req
            .plugins
            .iter()
            .map(|p| {
                format!(
                    "    {{\n      \"module_name\": \"{}\",\n      \"tag\": \"{}\"\n    }}",
                    p.module_name, p.tag
                )
            })
            .collect();
        let json = format!(
            "{{\n  \"version\": \"1.0\",\n  \"hash\": \"{key}\",\n  \"binary_file\": \"{key}.bin\",\n  \"file_size\": {bin_size},\n  \"rr_version\": \"v2025.1.15\",\n  \"platform\": {{\n    \"os\": \"linux\",\n    \"arch\": \"amd64\"\n  }},\n  \"plugins\": [\n{}\n  ],\n  \"created_at\": {c},\n  \"last_accessed\": {c},\n  \"access_count\": 1,\n  \"build_duration_ms\": 60000\n}}",
            plugins.join(",\n"),
            c = 1_700_000_000 + i64::from(n),
        );
        fs::write(dir.join(format!("{key}.json")), json).unwrap();
    }
}

/// A scratch directory under target/ (same filesystem as the cache, so hardlinks work).
pub fn scratch(name: &str) -> tempfile::TempDir {
    let base = crate::repo_root().join("target/bench-scratch");
    fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(base)
        .unwrap()
}
