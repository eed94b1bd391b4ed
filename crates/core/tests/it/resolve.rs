//! The resolver against a real HTTP fake of `vx server`: coalescing, cancellation,
//! timeouts, shutdown and safe ingest. The cache is disabled here (see
//! `resolve_cache.rs` for the cache's part). Real sockets, so real short durations.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use resolver_harness::{contents, harness, http_request, ms, resolve, Builds, Harness};
use velox_core::config::RetryConfig;
use velox_core::stats::Stats;
use velox_core::{Artifact, BuildRequest, Cancel, Config, Error, Source};

fn config(url: Option<&str>, allowed: &Path) -> Config {
    let json = serde_json::json!({
        "cache": {"enabled": false},
        "allowed_build_dirs": [allowed],
    });
    let mut c = Config::from_json(json.to_string().as_bytes()).unwrap();
    c.server_url = url.map(str::to_owned);
    c.build_timeout = Duration::from_secs(10);
    c.request_timeout = Duration::from_secs(10);
    c.retry = RetryConfig {
        max_attempts: 3,
        initial_delay: ms(5),
        max_delay: ms(20),
        backoff_multiplier: 2.0,
    };
    c
}

/// A fake answering `reply` and a harness resolving through it, its config changed by `tweak`.
async fn served(
    builds: &Builds,
    reply: Reply,
    tweak: impl FnOnce(&mut Config),
) -> (FakeVelox, Harness) {
    let fake = FakeVelox::start(reply).await;
    let mut cfg = config(Some(&fake.url()), &builds.root());
    tweak(&mut cfg);
    (fake, harness(cfg))
}

fn spawn_resolve(
    h: &Harness,
    req: BuildRequest,
    cancel: Option<Cancel>,
) -> tokio::task::JoinHandle<(Result<Artifact, Error>, Instant)> {
    let resolver = h.resolver.clone();
    tokio::spawn(async move {
        let r = resolve(&resolver, req, cancel).await;
        (r, Instant::now())
    })
}

#[tokio::test]
async fn a_miss_is_built_upstream_and_served_from_the_build_dir_without_a_cache() {
    let builds = Builds::new();
    let (path, bytes) = builds.go_binary("one", &http_request("v5.3.0"), b"binary");
    let (fake, h) = served(&builds, Reply::success(&path), |_| {}).await;
    let a = resolve(&h.resolver, http_request("v5.3.0"), None)
        .await
        .unwrap();
    assert_eq!(a.source, Source::Built);
    assert_eq!(a.path, PathBuf::from(&path));
    assert_eq!(a.size, bytes.len() as u64);
    assert_eq!(a.key, http_request("v5.3.0").key());
    assert_eq!(contents(&a), bytes);
    assert_eq!(fake.call_count(), 1);
    assert_eq!(fake.calls()[0].body, http_request("v5.3.0").to_velox_json());
    // No cache, no lookup: neither a hit nor a miss.
    assert_eq!(Stats::get(&h.stats.misses), 0);
    assert_eq!(Stats::get(&h.stats.builds), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesces_identical_misses_into_one_build() {
    let builds = Builds::new();
    let (path, bytes) = builds.go_binary("one", &http_request("v5.3.0"), b"shared bytes");
    let (fake, h) = served(&builds, Reply::success_after(ms(800), &path), |_| {}).await;
    let waiters: Vec<_> = (0..8)
        .map(|_| spawn_resolve(&h, http_request("v5.3.0"), None))
        .collect();
    let mut sources = Vec::new();
    for w in waiters {
        let (r, _) = w.await.unwrap();
        let a = r.unwrap();
        assert_eq!(contents(&a), bytes);
        sources.push(a.source);
    }
    assert_eq!(
        fake.call_count(),
        1,
        "identical misses made more than one call"
    );
    assert_eq!(sources.iter().filter(|s| **s == Source::Built).count(), 1);
    assert_eq!(sources.iter().filter(|s| **s == Source::Joined).count(), 7);
    assert_eq!(Stats::get(&h.stats.builds), 1);
    assert_eq!(Stats::get(&h.stats.joined), 7);
    assert_eq!(h.resolver.builds_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiners_get_their_own_file_offset() {
    let builds = Builds::new();
    let (path, bytes) = builds.go_binary("one", &http_request("v5.3.0"), b"0123456789");
    let (_fake, h) = served(&builds, Reply::success_after(ms(200), &path), |_| {}).await;
    let a = spawn_resolve(&h, http_request("v5.3.0"), None);
    let b = spawn_resolve(&h, http_request("v5.3.0"), None);
    let a = a.await.unwrap().0.unwrap();
    let b = b.await.unwrap().0.unwrap();
    // Reading one to the end must not move the other.
    assert_eq!(contents(&a), bytes);
    assert_eq!(contents(&b), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_requests_build_in_parallel() {
    let builds = Builds::new();
    let (fake, h) = served(&builds, Reply::Hang, |_| {}).await;
    // Each build answered with its own binary, as the build information must match.
    let paths: Vec<(String, String)> = ["v5.3.0", "v5.3.1"]
        .into_iter()
        .map(|tag| {
            (
                tag.to_owned(),
                builds.go_binary(tag, &http_request(tag), b"x").0,
            )
        })
        .collect();
    fake.respond_with(move |body| {
        let tag = body["plugins"][0]["tag"].as_str().unwrap_or_default();
        let path = paths.iter().find(|(t, _)| t == tag).map(|(_, p)| p.clone());
        Reply::success_after(ms(300), path.unwrap_or_default())
    });
    let a = spawn_resolve(&h, http_request("v5.3.0"), None);
    let b = spawn_resolve(&h, http_request("v5.3.1"), None);
    a.await.unwrap().0.unwrap();
    b.await.unwrap().0.unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    let (first, second) = (&calls[0], &calls[1]);
    assert!(
        second.started < first.ended.unwrap(),
        "the second build waited for the first: {calls:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_returns_at_once_and_cancels_the_upstream_call_when_nobody_else_waits() {
    let builds = Builds::new();
    // Today's behaviour on demand; by default the build lingers (tests/linger.rs).
    let (fake, h) = served(&builds, Reply::Hang, |c| c.build_linger = Duration::ZERO).await;
    let cancel = Cancel::new();
    let waiter = spawn_resolve(&h, http_request("v5.3.0"), Some(cancel.clone()));
    fake.wait_for(ms(2000), "the build call", |c| c.len() == 1)
        .await;
    let triggered = Instant::now();
    cancel.trigger();
    let (r, returned) = waiter.await.unwrap();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(returned - triggered < ms(200), "{:?}", returned - triggered);
    fake.wait_for(ms(2000), "the upstream call dropped", |c| c[0].dropped)
        .await;
    assert_eq!(h.resolver.builds_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiter_leaves_the_build_running_for_the_others() {
    let builds = Builds::new();
    let (path, _) = builds.go_binary("one", &http_request("v5.3.0"), b"bytes");
    let (fake, h) = served(&builds, Reply::success_after(ms(400), &path), |_| {}).await;
    let cancel = Cancel::new();
    let leader = spawn_resolve(&h, http_request("v5.3.0"), Some(cancel.clone()));
    fake.wait_for(ms(2000), "the build call", |c| c.len() == 1)
        .await;
    let other = spawn_resolve(&h, http_request("v5.3.0"), None);
    // The second caller must have joined before the first leaves (bounded wait).
    let key = http_request("v5.3.0").key();
    for _ in 0..400 {
        if h.resolver.waiters(&key) == Some(2) {
            break;
        }
        tokio::time::sleep(ms(5)).await;
    }
    assert_eq!(h.resolver.waiters(&key), Some(2));
    cancel.trigger();
    let (r, _) = leader.await.unwrap();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    let (r, _) = other.await.unwrap();
    let a = r.unwrap();
    assert_eq!(a.source, Source::Joined);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_abandoned_builds_lets_an_unwatched_build_finish() {
    let builds = Builds::new();
    let (path, _) = builds.go_binary("one", &http_request("v5.3.0"), b"bytes");
    let (fake, h) = served(&builds, Reply::success_after(ms(300), &path), |c| {
        c.keep_abandoned_builds = true
    })
    .await;
    let cancel = Cancel::new();
    let waiter = spawn_resolve(&h, http_request("v5.3.0"), Some(cancel.clone()));
    fake.wait_for(ms(2000), "the build call", |c| c.len() == 1)
        .await;
    cancel.trigger();
    assert!(matches!(waiter.await.unwrap().0, Err(Error::Cancelled)));
    // A retrying user finds the abandoned build still in flight and joins it.
    let again = resolve(&h.resolver, http_request("v5.3.0"), None)
        .await
        .unwrap();
    assert_eq!(again.source, Source::Joined);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].dropped);
}

#[tokio::test]
async fn build_timeout_bounds_the_whole_resolve() {
    let builds = Builds::new();
    let (fake, h) = served(&builds, Reply::Hang, |c| c.build_timeout = ms(300)).await;
    let started = Instant::now();
    let r = resolve(&h.resolver, http_request("v5.3.0"), None).await;
    let took = started.elapsed();
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.http_status(), 504);
    assert!(took >= ms(290) && took < ms(1000), "{took:?}");
    fake.wait_for(ms(2000), "the upstream call dropped", |c| c[0].dropped)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_waiter_promptly() {
    let builds = Builds::new();
    let (fake, h) = served(&builds, Reply::Hang, |_| {}).await;
    let waiters: Vec<_> = ["v5.3.0", "v5.3.0", "v5.3.1"]
        .into_iter()
        .map(|tag| spawn_resolve(&h, http_request(tag), None))
        .collect();
    fake.wait_for(ms(2000), "both builds", |c| c.len() == 2)
        .await;
    let fired = Instant::now();
    h.shutdown.cancel();
    for w in waiters {
        let (r, returned) = w.await.unwrap();
        assert!(matches!(r, Err(Error::ShuttingDown)), "{r:?}");
        assert!(returned - fired < ms(500), "{:?}", returned - fired);
    }
    fake.wait_for(ms(2000), "both upstream calls dropped", |c| {
        c.iter().all(|c| c.dropped)
    })
    .await;
    // Later calls are refused at once.
    let r = resolve(&h.resolver, http_request("v5.3.2"), None).await;
    assert!(matches!(r, Err(Error::ShuttingDown)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_is_reported_to_every_waiter_once() {
    let builds = Builds::new();
    let reply = Reply::connect_after(ms(200), "internal", "building plugins: exit status 1");
    let (fake, h) = served(&builds, reply, |_| {}).await;
    let waiters: Vec<_> = (0..3)
        .map(|_| spawn_resolve(&h, http_request("v5.3.0"), None))
        .collect();
    for w in waiters {
        let (r, _) = w.await.unwrap();
        let err = r.unwrap_err();
        assert!(matches!(err, Error::BuildFailed { .. }), "{err:?}");
        assert!(err.to_string().contains("exit status 1"));
    }
    assert_eq!(fake.call_count(), 2, "internal is retried exactly once");
    assert_eq!(Stats::get(&h.stats.upstream_errors), 1);
    assert_eq!(Stats::get(&h.stats.builds), 1);
}

#[tokio::test]
async fn invalid_argument_is_rejected_without_retry() {
    let builds = Builds::new();
    let reply = Reply::connect("invalid_argument", "rr_version: bad");
    let (fake, h) = served(&builds, reply, |_| {}).await;
    let err = resolve(&h.resolver, http_request("v5.3.0"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UpstreamRejected { .. }), "{err:?}");
    assert_eq!(err.http_status(), 422);
    assert_eq!(fake.call_count(), 1);
}

async fn refused_path(answer: String, builds: &Builds) -> String {
    let (_fake, h) = served(builds, Reply::success(answer), |_| {}).await;
    let err = resolve(&h.resolver, http_request("v5.3.0"), None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 502);
    assert_eq!(Stats::get(&h.stats.upstream_errors), 1);
    match err {
        Error::UnsafePath { reason, .. } => reason,
        other => panic!("not UnsafePath: {other:?}"),
    }
}

#[tokio::test]
async fn a_path_outside_the_allowed_dirs_is_refused() {
    let builds = Builds::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let bin = elsewhere.path().join("rr");
    std::fs::write(&bin, b"x").unwrap();
    let reason = refused_path(bin.to_str().unwrap().to_owned(), &builds).await;
    assert!(reason.contains("outside"), "{reason}");
}

#[tokio::test]
async fn a_symlink_is_refused() {
    let builds = Builds::new();
    let target = builds.binary("real", b"x");
    let link = builds.root().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let reason = refused_path(link.to_str().unwrap().to_owned(), &builds).await;
    assert!(reason.contains("symbolic"), "{reason}");
}

#[tokio::test]
async fn a_missing_file_is_refused() {
    let builds = Builds::new();
    let missing = builds.root().join("gone/rr");
    let reason = refused_path(missing.to_str().unwrap().to_owned(), &builds).await;
    assert!(reason.contains("No such file"), "{reason}");
}
