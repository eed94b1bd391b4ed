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
use resolver_harness::{contents, harness_with_cache, http_request, resolve, velox_config, Builds};
use velox_core::stats::Stats;
use velox_core::{Config, Source};

const MIB: u64 = 1 << 20;
/// What the hostile server offers: far more than any socket buffers hold.
const HUGE: u64 = 300 * MIB;
/// Kernel socket buffers on both ends may take this much before the client stops.
const BUFFERED: u64 = 32 * MIB;

fn config(velox: &str, endpoint: &str, builds: &Path, cache: &Path) -> Config {
    let remote = serde_json::json!({
        "url": "s3://velox/bounds",
        "endpoint": endpoint,
        "allow_http": true,
        "access_key_id": "test",
        "secret_access_key": "test",
    });
    let cache = serde_json::json!({"enabled": true, "directory": cache, "remote": remote});
    let mut c = velox_config(velox, builds, serde_json::json!({"cache": cache}));
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
    let (path, bytes) = builds.go_binary("out", &http_request("v5.3.0"), b"built here");
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &fake.url(),
        &s3.endpoint(),
        &builds.root(),
        cache_dir.path(),
    );
    let h = harness_with_cache(cfg);
    let started = Instant::now();
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        resolve(&h.resolver, http_request("v5.3.0"), None),
    )
    .await
    .expect("bounded")
    .unwrap();
    assert_eq!(got.source, Source::Built);
    assert_eq!(contents(&got), bytes);
    Run {
        stats: h.stats,
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
