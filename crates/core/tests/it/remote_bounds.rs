//! The remote tier's bounds against an S3 endpoint that lies in size (`hostile_s3.rs`,
//! a real HTTP server on 127.0.0.1): an object the cache could never keep is not
//! downloaded, and a lease object is read only up to a lease's size. Either way the
//! download is built here and delivered.

use velox_testkit::fake_velox;
use velox_testkit::hostile_s3;
use velox_testkit::resolver_harness;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use hostile_s3::{HostileS3, Objects};
use resolver_harness::{contents, http_request, resolve, Builds};
use tokio_util::sync::CancellationToken;
use velox_core::cache::Cache;
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{Config, Source};

const MIB: u64 = 1 << 20;
/// What the hostile server offers: far more than any socket buffers hold.
const HUGE: u64 = 300 * MIB;
/// Kernel socket buffers on both ends may take this much before the client stops.
const BUFFERED: u64 = 32 * MIB;

fn config(velox: &str, endpoint: &str, builds: &Path, cache: &Path) -> Config {
    let json = serde_json::json!({
        "server_url": velox,
        "build_timeout": "30s",
        "retry": {"max_attempts": 1},
        "allowed_build_dirs": [builds],
        "cache": {
            "enabled": true,
            "directory": cache,
            "remote": {
                "url": "s3://velox/bounds",
                "endpoint": endpoint,
                "allow_http": true,
                "access_key_id": "test",
                "secret_access_key": "test",
            },
        },
    });
    let mut c = Config::from_json(json.to_string().as_bytes()).unwrap();
    c.cache.max_size_bytes = MIB;
    c
}

struct Run {
    stats: Arc<Stats>,
    fake: FakeVelox,
    cache_dir: tempfile::TempDir,
    took: Duration,
}

/// One download through a resolver whose remote tier is `s3`; it must be built here.
async fn download(s3: &HostileS3) -> Run {
    let builds = Builds::new();
    let path = builds.binary("out", b"built here");
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &fake.url(),
        &s3.endpoint(),
        &builds.root(),
        cache_dir.path(),
    );
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::open(&cfg.cache, stats.clone()).unwrap());
    let resolver = Resolver::new(
        Arc::new(cfg),
        Some(cache),
        stats.clone(),
        CancellationToken::new(),
    )
    .unwrap();
    let started = Instant::now();
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        resolve(&resolver, http_request("v5.3.0"), None),
    )
    .await
    .expect("bounded")
    .unwrap();
    assert_eq!(got.source, Source::Built);
    assert_eq!(contents(&got), b"built here");
    Run {
        stats,
        fake,
        cache_dir,
        took: started.elapsed(),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_object_larger_than_max_size_is_not_downloaded_and_is_built_here() {
    let s3 = HostileS3::start(Objects {
        bin_len: Some(HUGE),
        lease_len: None,
    });
    let run = download(&s3).await;
    assert_eq!(run.fake.call_count(), 1, "built here");
    assert_eq!(run.stats.remote.get("too_large"), 1);
    assert_eq!(run.stats.remote.get("hit"), 0);
    assert!(
        s3.bin_bytes_sent() < BUFFERED,
        "{} bytes of the object were sent ({:?})",
        s3.bin_bytes_sent(),
        run.took
    );
    assert!(
        dir_bytes(run.cache_dir.path()) < MIB,
        "nothing big in the cache directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_lease_longer_than_a_lease_is_not_read_and_is_taken_over() {
    let s3 = HostileS3::start(Objects {
        bin_len: None,
        lease_len: Some(HUGE),
    });
    let run = download(&s3).await;
    assert_eq!(run.fake.call_count(), 1, "built here");
    assert!(run.stats.remote.get("lease_too_large") >= 1);
    assert_eq!(run.stats.remote.get("lease_taken_over"), 1);
    assert!(
        s3.lease_bytes_sent() < BUFFERED,
        "{} bytes of the lease were sent ({:?})",
        s3.lease_bytes_sent(),
        run.took
    );
}
