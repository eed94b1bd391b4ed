//! With `local_build_enabled: true` and no `server_url` the resolver builds with the
//! embedded local builder, through the same coalescing, cache and counters as Velox builds. A stand-in `go` (a shell
//! script) keeps this cheap; the real toolchain is exercised in `local_build_real.rs`.

use velox_testkit::resolver_harness;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use resolver_harness::{resolve, resolve_or_pending};
use tokio_util::sync::CancellationToken;
use velox_core::cache::Cache;
use velox_core::local::{LocalBuildConfig, SourceMode};
use velox_core::resolve::respond::{Prefer, Resolved};
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{BuildRequest, Config, Error, Source};

/// What the stand-in's `go build` does.
#[derive(Clone, Copy, PartialEq)]
enum GoBuild {
    /// Writes the binary to its `-o` path (and appends a line to `builds` in the
    /// script's directory).
    Writes,
    /// Fails with a compiler message.
    Fails,
    /// Reports success with an empty file at its `-o` path.
    WritesEmpty,
}

fn fake_go(dir: &Path, go_build: GoBuild) -> PathBuf {
    let d = dir.display();
    let contents = if go_build == GoBuild::WritesEmpty {
        ""
    } else {
        "locally built rr"
    };
    let build = if go_build == GoBuild::Fails {
        "echo './main.go:3:2: undefined: velox' >&2; exit 1".to_string()
    } else {
        format!(
            r#"echo x >> {d}/builds
    sleep 0.3
    out=""
    while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done
    printf '{contents}' > "$out""#
        )
    };
    let script =
        format!("#!/bin/sh\ncase \"$1\" in\n  build)\n    {build}\n    ;;\nesac\nexit 0\n");
    let go = dir.join("go");
    std::fs::write(&go, script).unwrap();
    std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
    go
}

fn builds_run(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("builds"))
        .unwrap_or_default()
        .lines()
        .count()
}

struct Harness {
    resolver: Arc<Resolver>,
    stats: Arc<Stats>,
    tmp: tempfile::TempDir,
}

fn harness(go_build: GoBuild) -> Harness {
    harness_with(go_build, serde_json::json!({}))
}

/// [`harness`] with more configuration keys.
fn harness_with(go_build: GoBuild, extra: serde_json::Value) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let go = fake_go(&root, go_build);
    // The stand-in `go` writes a few bytes, not a Go executable: these tests are about
    // queueing and caching. provenance.rs verifies a local build's output.
    let mut json = serde_json::json!({
        "local_build_enabled": true,
        "verify_builds": false,
        "cache": {"enabled": true, "directory": root.join("cache")},
    });
    for (k, v) in extra.as_object().unwrap() {
        json[k] = v.clone();
    }
    let mut config = Config::from_json(json.to_string().as_bytes()).unwrap();
    assert!(config.server_url.is_none());
    config.local = LocalBuildConfig {
        max_concurrent: 1,
        queue_limit: 4,
        work_dir: work,
        go_binary: go,
        source: SourceMode::Generated,
    };
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::open(&config.cache, stats.clone()).unwrap());
    let resolver = Resolver::new(
        Arc::new(config),
        Some(cache),
        stats.clone(),
        CancellationToken::new(),
    )
    .unwrap();
    Harness {
        resolver: Arc::new(resolver),
        stats,
        tmp,
    }
}

fn request() -> BuildRequest {
    request_tagged("v5.3.0")
}

fn request_tagged(tag: &str) -> BuildRequest {
    let json = serde_json::json!({
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": tag}],
    });
    BuildRequest::parse(json.to_string().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_server_url_identical_requests_share_one_local_build_then_hit_the_cache() {
    let h = harness(GoBuild::Writes);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let r = h.resolver.clone();
            tokio::spawn(async move { resolve(&r, request(), None).await })
        })
        .collect();
    let mut sources = Vec::new();
    for w in waiters {
        let a = tokio::time::timeout(Duration::from_secs(20), w)
            .await
            .expect("local build hung")
            .unwrap()
            .unwrap();
        let mut bytes = Vec::new();
        (&*a.file).read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"locally built rr");
        sources.push(a.source);
    }
    assert_eq!(builds_run(h.tmp.path()), 1);
    assert_eq!(sources.iter().filter(|s| **s == Source::Joined).count(), 2);
    let hit = resolve(&h.resolver, request(), None).await.unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(Stats::get(&h.stats.builds), 1);
    // The private workspaces and output directories are gone.
    let left: Vec<_> = std::fs::read_dir(h.tmp.path().canonicalize().unwrap().join("work"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_failing_local_build_is_build_failed_with_go_s_message() {
    let h = harness(GoBuild::Fails);
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        resolve(&h.resolver, request(), None),
    )
    .await
    .expect("local build hung")
    .unwrap_err();
    let Error::BuildFailed { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("undefined: velox"), "{message}");
    assert_eq!(Stats::get(&h.stats.upstream_errors), 1);
}

/// A local build whose output cannot be served is the builder's error, counted as a
/// Velox answer naming such a file is, and leaves no directory behind.
#[tokio::test]
async fn an_empty_local_output_is_refused_counted_and_removed() {
    let h = harness(GoBuild::WritesEmpty);
    let err = resolve(&h.resolver, request(), None).await.unwrap_err();
    let Error::UnsafePath { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(reason, "is empty");
    assert_eq!(Stats::get(&h.stats.builds), 1);
    assert_eq!(Stats::get(&h.stats.upstream_errors), 1);
    let left: Vec<_> = std::fs::read_dir(h.tmp.path().canonicalize().unwrap().join("work"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The `local_*` and `go_binary` keys of the `velox:` section reach the builder that
/// `Engine::new` sets up: the stand-in go named by `go_binary` runs, in `local_build_dir`.
#[test]
fn the_engine_builds_locally_with_the_go_binary_and_dir_from_its_config() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let go = fake_go(&root, GoBuild::Writes);
    let work = root.join("local-work");
    let json = serde_json::json!({
        "server_url": "",
        "local_build_enabled": true,
        "cache": {"enabled": true, "directory": root.join("cache")},
        "go_binary": go,
        "local_build_dir": work,
        "local_build_source": "generated",
        "local_builds": 1,
        // The stand-in writes a few bytes, not a Go executable (see `harness_with`).
        "verify_builds": false,
    });
    let engine = velox_core::engine::Engine::new(json.to_string().as_bytes()).unwrap();
    let req = serde_json::json!({
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}],
    })
    .to_string();
    let built = engine.resolve(req.as_bytes(), None).unwrap();
    assert_eq!(built.source, Source::Built);
    let mut bytes = Vec::new();
    (&*built.file).read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"locally built rr");
    assert_eq!(builds_run(&root), 1);
    // The workspace lived under local_build_dir and is gone again.
    assert!(work.is_dir());
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    let hit = engine.resolve(req.as_bytes(), None).unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(builds_run(&root), 1);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_answer_tells_a_queued_local_build_its_place() {
    // One local build at a time: the second distinct request waits for the slot.
    let h = harness_with(
        GoBuild::Writes,
        serde_json::json!({"respond_after": "150ms"}),
    );
    let ask = |tag| resolve_or_pending(&h.resolver, request_tagged(tag), None, Prefer::default());
    let first = ask("v5.3.0").await.unwrap();
    let Resolved::Pending(p) = first else {
        panic!("want the running build pending, got {first:?}")
    };
    assert_eq!(p.position, None, "running, not queued");
    let second = ask("v5.3.1").await.unwrap();
    let Resolved::Pending(p) = second else {
        panic!("want the queued build pending, got {second:?}")
    };
    assert_eq!(p.position, Some(1), "{p:?}");
    let body: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
    assert_eq!(body["position"], 1);
    // Both finish into the cache although nobody waited.
    for tag in ["v5.3.0", "v5.3.1"] {
        let a = tokio::time::timeout(
            Duration::from_secs(20),
            resolve(&h.resolver, request_tagged(tag), None),
        )
        .await
        .expect("local build hung")
        .unwrap();
        assert!(
            matches!(a.source, Source::CacheHit | Source::Joined),
            "{:?}",
            a.source
        );
    }
    assert_eq!(builds_run(h.tmp.path()), 2);
}
