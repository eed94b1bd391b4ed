//! The resolver with the disk cache: hits skip Velox, misses are stored, force_rebuild
//! rebuilds and replaces, and a cache that cannot store never fails a build.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fake_velox::{FakeVelox, Reply};
use resolver_harness::{contents, resolve};
use tokio_util::sync::CancellationToken;
use velox_core::cache::Cache;
use velox_core::config::RetryConfig;
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{BuildRequest, Config, Source};

struct World {
    _tmp: tempfile::TempDir,
    builds: PathBuf,
    cache_dir: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let builds = root.join("builds");
        let cache_dir = root.join("cache");
        std::fs::create_dir_all(&builds).unwrap();
        World {
            _tmp: tmp,
            builds,
            cache_dir,
        }
    }

    /// Writes [`exe`]`(payload)` as a build output.
    fn binary(&self, name: &str, payload: &[u8]) -> String {
        let path = self.builds.join(name).join("rr");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, exe(payload)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn config(&self, url: &str) -> Config {
        let json = serde_json::json!({
            "server_url": url,
            "cache": {"enabled": true, "directory": self.cache_dir},
            "allowed_build_dirs": [self.builds],
        });
        let mut c = Config::from_json(json.to_string().as_bytes()).unwrap();
        c.retry = RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            backoff_multiplier: 2.0,
        };
        c
    }

    /// A fake answering `reply` and a resolver whose cache is in this world.
    async fn served(&self, reply: Reply) -> (FakeVelox, Harness) {
        let fake = FakeVelox::start(reply).await;
        let h = harness(self.config(&fake.url()));
        (fake, h)
    }
}

struct Harness {
    resolver: Resolver,
    stats: Arc<Stats>,
    cache: Arc<Cache>,
}

fn harness(config: Config) -> Harness {
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::open(&config.cache, stats.clone()).unwrap());
    let resolver = Resolver::new(
        Arc::new(config),
        Some(cache.clone()),
        stats.clone(),
        CancellationToken::new(),
    )
    .unwrap();
    Harness {
        resolver,
        stats,
        cache,
    }
}

fn request(force: bool) -> BuildRequest {
    let json = serde_json::json!({
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}],
        "force_rebuild": force,
    });
    BuildRequest::parse(json.to_string().as_bytes()).unwrap()
}

/// A Go executable answering [`request`] (`force_rebuild` is no build information),
/// ending with `payload`.
fn exe(payload: &[u8]) -> Vec<u8> {
    velox_testkit::go_exe::build_for(&request(false), payload)
}

fn inside(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

#[tokio::test]
async fn a_built_binary_is_stored_and_the_next_resolve_is_a_hit_without_velox() {
    let w = World::new();
    let (fake, h) = w
        .served(Reply::success(w.binary("a", b"first build")))
        .await;

    let built = resolve(&h.resolver, request(false), None).await.unwrap();
    assert_eq!(built.source, Source::Built);
    assert!(inside(&built.path, &w.cache_dir), "{:?}", built.path);
    assert_eq!(contents(&built), exe(b"first build"));

    let hit = resolve(&h.resolver, request(false), None).await.unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(contents(&hit), exe(b"first build"));
    assert_eq!(fake.call_count(), 1);
    assert_eq!(Stats::get(&h.stats.hits), 1);
    assert_eq!(Stats::get(&h.stats.misses), 1);
    assert_eq!(Stats::get(&h.stats.builds), 1);
    assert_eq!(h.cache.usage().entries, 1);
}

#[tokio::test]
async fn the_cached_copy_survives_velox_deleting_its_output() {
    let w = World::new();
    let path = w.binary("a", b"bytes");
    let (_fake, h) = w.served(Reply::success(&path)).await;
    resolve(&h.resolver, request(false), None).await.unwrap();
    // Velox's LRU removes its output directory later.
    std::fs::remove_dir_all(Path::new(&path).parent().unwrap()).unwrap();
    let hit = resolve(&h.resolver, request(false), None).await.unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(contents(&hit), exe(b"bytes"));
}

#[tokio::test]
async fn force_rebuild_skips_the_cache_and_replaces_the_entry() {
    let w = World::new();
    let (fake, h) = w.served(Reply::success(w.binary("a", b"old"))).await;
    resolve(&h.resolver, request(false), None).await.unwrap();

    fake.set_fallback(Reply::success(w.binary("b", b"new build")));
    let rebuilt = resolve(&h.resolver, request(true), None).await.unwrap();
    assert_eq!(rebuilt.source, Source::Built);
    assert_eq!(contents(&rebuilt), exe(b"new build"));
    assert_eq!(fake.call_count(), 2);
    assert_eq!(fake.calls()[1].body, request(true).to_velox_json());
    assert_ne!(
        request(true).to_velox_json(),
        request(false).to_velox_json()
    );

    let hit = resolve(&h.resolver, request(false), None).await.unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(contents(&hit), exe(b"new build"));
    // The forced resolve was neither a hit nor a miss: it never looked.
    assert_eq!(Stats::get(&h.stats.misses), 1);
    assert_eq!(Stats::get(&h.stats.hits), 1);
}

#[tokio::test]
async fn a_cache_that_cannot_store_still_serves_the_build() {
    let w = World::new();
    let path = w.binary("a", b"served anyway");
    let (_fake, h) = w.served(Reply::success(&path)).await;
    // The directory vanishes under the cache: every store fails.
    std::fs::remove_dir_all(&w.cache_dir).unwrap();
    std::fs::write(&w.cache_dir, b"not a directory").unwrap();

    let a = resolve(&h.resolver, request(false), None).await.unwrap();
    assert_eq!(a.source, Source::Built);
    assert_eq!(a.path, PathBuf::from(&path));
    assert_eq!(contents(&a), exe(b"served anyway"));
}

/// The host's path step by step: `cached` counts nothing on a miss, `resolve_missed`
/// counts the miss and builds, then `cached` serves the hit with no call to Velox.
#[tokio::test]
async fn the_host_thread_cache_step_counts_one_miss_then_serves_the_hit() {
    let w = World::new();
    let (fake, h) = w.served(Reply::success(w.binary("a", b"split path"))).await;

    assert!(h.resolver.cached(&request(false)).is_none());
    assert_eq!(Stats::get(&h.stats.hits) + Stats::get(&h.stats.misses), 0);
    let built = h
        .resolver
        .resolve_missed(request(false), None, None)
        .await
        .unwrap()
        .ready()
        .unwrap();
    assert_eq!(built.source, Source::Built);
    assert_eq!(Stats::get(&h.stats.misses), 1);

    let hit = h
        .resolver
        .cached(&request(false))
        .expect("stored by the build");
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(contents(&hit), exe(b"split path"));
    assert_eq!(Stats::get(&h.stats.hits), 1);
    assert_eq!(Stats::get(&h.stats.misses), 1);
    assert_eq!(fake.call_count(), 1);
    // force_rebuild never takes the shortcut, and is not counted as a lookup.
    assert!(h.resolver.cached(&request(true)).is_none());
    assert_eq!(Stats::get(&h.stats.hits), 1);
}
