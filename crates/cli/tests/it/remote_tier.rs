//! The shared remote tier against a real S3 server (SeaweedFS on 127.0.0.1) and a real
//! HTTP fake of Velox: several "hosts" (resolvers with separate cache directories) on one
//! bucket build a key once, a new host fills from the bucket, a corrupt object is never
//! served, and a remote that is down or goes away never fails a download.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;
use velox_testkit::seaweedfs;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fake_velox::{FakeVelox, Reply};
use object_store::{Attribute, Attributes, PutOptions, PutPayload};
use resolver_harness::{contents, http_request, resolve};
use seaweedfs::Seaweed;
use sha2::Digest;
use tokio_util::sync::CancellationToken;
use velox_core::cache::Cache;
use velox_core::remote::{RemoteTier, SHA256_METADATA};
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{Artifact, BuildRequest, Config, Source};

struct Host {
    resolver: Arc<Resolver>,
    stats: Arc<Stats>,
    _dir: tempfile::TempDir,
}

/// `verify_builds` is off in these scenarios but one: they serve one build output for
/// several tags (a corrupt object, leases, a remote that is down); the scenario
/// `an_object_of_another_combination_is_refused_and_rebuilt` turns it on.
fn config(velox: &str, endpoint: &str, prefix: &str, builds: &Path, cache: &Path) -> Config {
    let json = serde_json::json!({
        "verify_builds": false,
        "server_url": velox,
        "build_timeout": "60s",
        "retry": {"max_attempts": 1},
        "allowed_build_dirs": [builds],
        "cache": {
            "enabled": true,
            "directory": cache,
            "remote": {
                "url": format!("s3://velox/{prefix}"),
                "endpoint": endpoint,
                "allow_http": true,
                "access_key_id": seaweedfs::ACCESS_KEY,
                "secret_access_key": seaweedfs::SECRET_KEY,
            },
        },
    });
    Config::from_json(json.to_string().as_bytes()).unwrap()
}

/// One process: a resolver over the cache directory `config` names, with its own stats.
fn process(config: &Config) -> (Arc<Resolver>, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::open(&config.cache, stats.clone()).unwrap());
    let resolver = Resolver::new(
        Arc::new(config.clone()),
        Some(cache),
        stats.clone(),
        CancellationToken::new(),
    )
    .unwrap();
    (Arc::new(resolver), stats)
}

fn host(velox: &str, endpoint: &str, prefix: &str, builds: &Path) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let (resolver, stats) = process(&config(velox, endpoint, prefix, builds, dir.path()));
    Host {
        resolver,
        stats,
        _dir: dir,
    }
}

impl Host {
    /// A download that must succeed.
    async fn get(&self, tag: &str) -> Artifact {
        resolve(&self.resolver, http_request(tag), None)
            .await
            .unwrap()
    }
}

/// The tier a host on `prefix` uses, to read or write the bucket behind its back.
fn tier(velox: &str, endpoint: &str, prefix: &str, builds: &Path) -> RemoteTier {
    let cfg = config(velox, endpoint, prefix, builds, builds);
    RemoteTier::new(
        cfg.remote.as_ref().unwrap(),
        Duration::from_secs(60),
        Arc::new(Stats::default()),
    )
    .unwrap()
}

fn sha256_of(path: &str) -> String {
    velox_core::cache::content::hash_file(&std::fs::File::open(path).unwrap())
        .unwrap()
        .0
}

/// Uploads `bytes` as the binary of `req` with `sha256` as its metadata, as a host does.
async fn put_binary(tier: &RemoteTier, req: &BuildRequest, bytes: Vec<u8>, sha256: String) {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::Metadata(SHA256_METADATA.into()), sha256.into());
    let opts = PutOptions {
        attributes,
        ..Default::default()
    };
    tier.store()
        .put_opts(
            &tier.object(&req.key(), ".bin"),
            PutPayload::from(bytes),
            opts,
        )
        .await
        .unwrap();
}

/// A build output the fake names; canonical so that `allowed_build_dirs` accepts it.
fn binary(builds: &Path, name: &str, bytes: &[u8]) -> String {
    let path = builds.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn remote_count(h: &Host, event: &str) -> u64 {
    h.stats.remote.get(event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn remote_tier_against_seaweedfs() {
    if !seaweedfs::enabled() {
        return;
    }
    let s3 = Seaweed::start();
    let builds = tempfile::tempdir().unwrap();
    let builds = builds.path().canonicalize().unwrap();

    three_hosts_build_a_key_once_and_a_fourth_fills_from_the_bucket(&s3, &builds).await;
    a_corrupt_object_is_refused_counted_and_rebuilt(&s3, &builds).await;
    an_object_of_another_combination_is_refused_and_rebuilt(&s3, &builds).await;
    velox_cache_lists_and_verifies_the_remote_tier(&s3, &builds).await;
    a_live_lease_is_waited_for_and_an_expired_one_taken_over(&s3, &builds).await;
    processes_sharing_a_directory_ask_the_bucket_once(&s3, &builds).await;
    a_remote_that_is_down_never_fails_a_download(&builds).await;
    a_remote_stopped_mid_run_falls_back_to_the_local_path(s3, &builds).await;
}

async fn three_hosts_build_a_key_once_and_a_fourth_fills_from_the_bucket(
    s3: &Seaweed,
    builds: &Path,
) {
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = binary(builds, "shared", &bytes);
    // Slow enough that every host misses locally while the build runs.
    let fake = FakeVelox::start(Reply::success_after(Duration::from_millis(1500), &path)).await;
    let hosts: Vec<Host> = (0..3)
        .map(|_| host(&fake.url(), &s3.endpoint(), "three", builds))
        .collect();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let resolver = hosts[i % 3].resolver.clone();
        tasks.push(tokio::spawn(async move {
            resolve(&resolver, http_request("v5.3.0"), None).await
        }));
    }
    let mut sources = Vec::new();
    for t in tasks {
        let a = t.await.unwrap().expect("every download succeeds");
        assert_eq!(contents(&a), bytes, "every download has the built bytes");
        sources.push(a.source);
    }
    assert_eq!(
        fake.call_count(),
        1,
        "one upstream build for three hosts: {sources:?}"
    );
    assert_eq!(sources.iter().filter(|s| **s == Source::Built).count(), 1);
    let remote: u64 = hosts.iter().map(|h| remote_count(h, "hit")).sum();
    assert!(
        remote >= 2,
        "the two other hosts filled from the bucket: {sources:?}"
    );

    // The upload runs in the background: a fourth host sees it once the lease is gone.
    let fourth = host(&fake.url(), &s3.endpoint(), "three", builds);
    let a = fourth.get("v5.3.0").await;
    assert_eq!(a.source, Source::Remote);
    assert_eq!(contents(&a), bytes);
    let again = fourth.get("v5.3.0").await;
    assert_eq!(again.source, Source::CacheHit);
    assert_eq!(
        fake.call_count(),
        1,
        "the fourth host never called upstream"
    );
    assert_eq!(a.sha256, again.sha256);
}

async fn a_corrupt_object_is_refused_counted_and_rebuilt(s3: &Seaweed, builds: &Path) {
    let good = b"the real binary".to_vec();
    let path = binary(builds, "good", &good);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let h = host(&fake.url(), &s3.endpoint(), "corrupt", builds);
    let req = http_request("v5.4.0");
    // Other bytes under the key, with the hash of the good ones as metadata.
    let tier = tier(&fake.url(), &s3.endpoint(), "corrupt", builds);
    let good_sha = sha256_of(&path);
    put_binary(&tier, &req, b"tampered".to_vec(), good_sha.clone()).await;

    let a = resolve(&h.resolver, req, None).await.unwrap();
    assert_eq!(a.source, Source::Built, "the corrupt object was not served");
    assert_eq!(contents(&a), good);
    assert_eq!(a.sha256, good_sha);
    assert_eq!(remote_count(&h, "corrupt"), 1);
    assert_eq!(fake.call_count(), 1);
}

/// Whoever can write the bucket can put another combination's build under a key, with
/// its correct hash: its build information gives it away.
async fn an_object_of_another_combination_is_refused_and_rebuilt(s3: &Seaweed, builds: &Path) {
    use velox_testkit::go_exe::build_for;
    let req = http_request("v5.5.0");
    let good = build_for(&req, b"the requested build");
    let path = binary(builds, "combination", &good);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &fake.url(),
        &s3.endpoint(),
        "combination",
        builds,
        dir.path(),
    );
    cfg.verify_builds = true;
    let (resolver, stats) = process(&cfg);
    let other = build_for(&http_request("v5.5.1"), b"another build");
    let other_sha: String = sha2::Sha256::digest(&other)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let tier = tier(&fake.url(), &s3.endpoint(), "combination", builds);
    put_binary(&tier, &req, other, other_sha).await;

    let a = resolve(&resolver, req, None).await.unwrap();
    assert_eq!(
        a.source,
        Source::Built,
        "another combination's object was served"
    );
    assert_eq!(contents(&a), good);
    assert_eq!(stats.remote.get("mismatch"), 1);
    assert_eq!(fake.call_count(), 1);
}

/// `velox-cache remote-ls` / `remote-verify` / `remote-prune` on what the first scenario
/// uploaded, and on a tampered object.
async fn velox_cache_lists_and_verifies_the_remote_tier(s3: &Seaweed, builds: &Path) {
    let cli = |prefix: &str, args: &[&str]| {
        let cfg = builds.join(format!("velox-{prefix}.json"));
        let json = serde_json::json!({"velox": {"cache": {"remote": {
            "url": format!("s3://velox/{prefix}"),
            "endpoint": s3.endpoint(),
            "allow_http": true,
            "access_key_id": seaweedfs::ACCESS_KEY,
            "secret_access_key": seaweedfs::SECRET_KEY,
        }}}});
        std::fs::write(&cfg, json.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_velox-cache"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let key = http_request("v5.3.0").key().to_string();
    let (code, out, err) = cli("three", &["--json", "remote-ls"]);
    assert_eq!(code, Some(0), "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entry = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("{key} not listed: {out}"));
    assert_eq!(entry["size"], 3_000_000);
    assert_eq!(entry["metadata"], true);
    let (code, out, err) = cli("three", &["remote-verify"]);
    assert_eq!(code, Some(0), "{out} {err}");
    assert!(out.contains("0 problems"), "{out}");

    // A tampered binary is reported, with exit status 1.
    let tier = tier("http://127.0.0.1:1", &s3.endpoint(), "cli", builds);
    put_binary(
        &tier,
        &http_request("v7.0.0"),
        b"x".to_vec(),
        "0".repeat(64),
    )
    .await;
    let (code, out, _) = cli("cli", &["remote-verify"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("HashMismatch"), "{out}");
    // Nothing is a day old yet; remote-prune without an age is a usage error.
    let (code, out, _) = cli("cli", &["remote-prune", "--max-age-days", "1"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("removed 0"), "{out}");
    assert_eq!(cli("cli", &["remote-prune"]).0, Some(2));
}

/// Another "host" is simulated by writing its lease (and later its upload) by hand.
async fn a_live_lease_is_waited_for_and_an_expired_one_taken_over(s3: &Seaweed, builds: &Path) {
    let bytes = b"built by the other host".to_vec();
    let path = binary(builds, "leased", &bytes);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let tier = tier(&fake.url(), &s3.endpoint(), "lease", builds);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Another host's lease on `req`'s key, held until `expires_at`.
    let put_lease = |req: BuildRequest, expires_at: u64| {
        let tier = &tier;
        async move {
            let lease = serde_json::json!({"holder": "other-host:1", "pid": 1, "started_at": now - 10, "expires_at": expires_at});
            tier.store()
                .put(
                    &tier.object(&req.key(), ".lease"),
                    PutPayload::from(lease.to_string().into_bytes()),
                )
                .await
                .unwrap();
        }
    };

    // A live lease: this host waits instead of building, and fills from the upload.
    let req = http_request("v8.0.0");
    put_lease(req.clone(), now + 600).await;
    let h = host(&fake.url(), &s3.endpoint(), "lease", builds);
    let resolver = h.resolver.clone();
    let waiting =
        tokio::spawn(async move { resolve(&resolver, http_request("v8.0.0"), None).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "the host did not wait for the lease holder"
    );
    assert_eq!(fake.call_count(), 0);
    put_binary(&tier, &req, bytes.clone(), sha256_of(&path)).await;
    let a = waiting.await.unwrap().unwrap();
    assert_eq!(a.source, Source::Remote);
    assert_eq!(contents(&a), bytes);
    assert_eq!(fake.call_count(), 0, "the waiting host never built");
    assert!(remote_count(&h, "lease_wait") >= 1);

    // The holder is another process on this host (same cache directory): its local
    // entry ends the wait before any upload.
    let req = http_request("v8.2.0");
    put_lease(req.clone(), now + 600).await;
    let shared_dir = tempfile::tempdir().unwrap();
    let sibling_cfg = config(
        &fake.url(),
        &s3.endpoint(),
        "lease",
        builds,
        shared_dir.path(),
    );
    let sibling = Cache::open(&sibling_cfg.cache, Arc::new(Stats::default())).unwrap();
    let (waiter, _) = process(&sibling_cfg);
    let waiting = tokio::spawn(async move { resolve(&waiter, http_request("v8.2.0"), None).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !waiting.is_finished(),
        "the process did not wait for the lease holder"
    );
    sibling
        .store(&req, &req.key(), Path::new(&path), 5)
        .unwrap();
    let a = waiting.await.unwrap().unwrap();
    assert_eq!(a.source, Source::CacheHit);
    assert_eq!(contents(&a), bytes);
    assert_eq!(fake.call_count(), 0, "neither process built");

    // An expired lease (a crashed holder): taken over at once, built here.
    let req = http_request("v8.1.0");
    put_lease(req.clone(), now - 1).await;
    let a = resolve(&h.resolver, req.clone(), None).await.unwrap();
    assert_eq!(a.source, Source::Built);
    assert_eq!(remote_count(&h, "lease_taken_over"), 1);
    assert_eq!(fake.call_count(), 1);
}

/// Two processes on one host (one cache directory): the directory's build lease comes
/// first, so only one of them looks in the bucket, takes the remote lease and builds.
async fn processes_sharing_a_directory_ask_the_bucket_once(s3: &Seaweed, builds: &Path) {
    let bytes = b"one host, two processes".to_vec();
    let path = binary(builds, "siblings", &bytes);
    let fake = FakeVelox::start(Reply::success_after(Duration::from_millis(1500), &path)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&fake.url(), &s3.endpoint(), "siblings", builds, dir.path());
    let (a, a_stats) = process(&cfg);
    let (b, b_stats) = process(&cfg);
    let (ra, rb) = tokio::join!(
        resolve(&a, http_request("v8.3.0"), None),
        resolve(&b, http_request("v8.3.0"), None)
    );
    assert_eq!(contents(&ra.unwrap()), bytes);
    assert_eq!(contents(&rb.unwrap()), bytes);
    assert_eq!(fake.call_count(), 1);
    let asked = |s: &Stats| s.remote.get("miss") + s.remote.get("hit") + s.remote.get("lease_wait");
    let (asked_a, asked_b) = (asked(&a_stats), asked(&b_stats));
    assert!(
        (asked_a == 0) != (asked_b == 0),
        "exactly one process asks the bucket: {:?} / {:?}",
        a_stats.remote.snapshot(),
        b_stats.remote.snapshot()
    );
}

async fn a_remote_that_is_down_never_fails_a_download(builds: &Path) {
    let bytes = b"built while the remote is down".to_vec();
    let path = binary(builds, "down", &bytes);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    // Nothing listens on this port.
    let endpoint = format!("http://127.0.0.1:{}", seaweedfs::free_port());
    let h = host(&fake.url(), &endpoint, "down", builds);
    let started = std::time::Instant::now();
    let a = h.get("v5.5.0").await;
    assert_eq!(a.source, Source::Built);
    assert_eq!(contents(&a), bytes);
    assert!(
        remote_count(&h, "error") >= 1,
        "{:?}",
        h.stats.remote.snapshot()
    );
    // Generous: bounded by the remote's own timeouts, far below build_timeout.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

async fn a_remote_stopped_mid_run_falls_back_to_the_local_path(mut s3: Seaweed, builds: &Path) {
    let bytes = b"built before the stop".to_vec();
    let path = binary(builds, "mid", &bytes);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let first = host(&fake.url(), &s3.endpoint(), "mid", builds);
    let a = first.get("v5.6.0").await;
    assert_eq!(a.source, Source::Built);
    s3.stop();
    // A host with an empty cache: the bucket is gone, so it builds.
    let second = host(&fake.url(), &s3.endpoint(), "mid", builds);
    let b = second.get("v5.6.0").await;
    assert_eq!(b.source, Source::Built);
    assert_eq!(contents(&b), bytes);
    assert!(remote_count(&second, "error") >= 1);
    // And the first host still serves its local copy.
    let c = first.get("v5.6.0").await;
    assert_eq!(c.source, Source::CacheHit);
}

/// `make bench-s3` (part of `make bench`): a `REMOTE` fill of a 64 MiB binary against a
/// local `HIT`, in time to the artifact (the first byte a host can send: a fill is
/// verified whole before it is served) and throughput. Also the multipart upload path.
/// Numbers are printed, never asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_fill_against_local_hit_64mib() {
    if std::env::var("VXM_S3_BENCH").as_deref() != Ok("1") || !seaweedfs::enabled() {
        eprintln!("skipped: VXM_S3_BENCH=1 VXM_S3_TESTS=1 run it (make bench-s3)");
        return;
    }
    const SIZE: usize = 64 << 20;
    let s3 = Seaweed::start();
    let builds = tempfile::tempdir().unwrap();
    let builds = builds.path().canonicalize().unwrap();
    let bytes: Vec<u8> = (0..SIZE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = binary(&builds, "big", &bytes);
    let fake = FakeVelox::start(Reply::success(&path)).await;
    let builder = host(&fake.url(), &s3.endpoint(), "bench", &builds);
    let built = builder.get("v9.0.0").await;
    assert_eq!(built.source, Source::Built);
    // Wait for the background (multipart) upload: the lease goes after it.
    let tier = tier(&fake.url(), &s3.endpoint(), "bench", &builds);
    let lease = tier.object(&http_request("v9.0.0").key(), ".lease");
    for _ in 0..600 {
        if tier.store().head(&lease).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        remote_count(&builder, "upload"),
        1,
        "{:?}",
        builder.stats.remote.snapshot()
    );

    let mib = SIZE as f64 / (1 << 20) as f64;
    let mut report = Vec::new();
    for round in 0..3 {
        let fresh = host(&fake.url(), &s3.endpoint(), "bench", &builds);
        let t = std::time::Instant::now();
        let a = fresh.get("v9.0.0").await;
        let fill = t.elapsed();
        assert_eq!(a.source, Source::Remote);
        let read = read_all(&a);
        let t = std::time::Instant::now();
        let hit = fresh.get("v9.0.0").await;
        let hit_ttfb = t.elapsed();
        assert_eq!(hit.source, Source::CacheHit);
        let t = std::time::Instant::now();
        let hit_read = read_all(&hit);
        let hit_total = hit_ttfb + t.elapsed();
        assert_eq!(read, SIZE);
        assert_eq!(hit_read, SIZE);
        report.push(format!(
            "round {round}: REMOTE time to artifact {:.0} ms ({:.0} MiB/s); HIT time to artifact {:.2} ms, read {:.0} MiB/s",
            fill.as_secs_f64() * 1e3,
            mib / fill.as_secs_f64(),
            hit_ttfb.as_secs_f64() * 1e3,
            mib / hit_total.as_secs_f64(),
        ));
    }
    assert_eq!(fake.call_count(), 1);
    println!(
        "remote tier, 64 MiB binary, SeaweedFS on 127.0.0.1:\n{}",
        report.join("\n")
    );
}

fn read_all(a: &Artifact) -> usize {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let (mut off, mut total) = (0u64, 0usize);
    loop {
        let n = a.file.read_at(&mut buf, off).unwrap();
        if n == 0 {
            return total;
        }
        off += n as u64;
        total += n;
    }
}
