//! A build promised with `202` is deliverable even when the cache does not keep it (cache
//! disabled, or a binary larger than `max_size`): the pickup hold serves the next poll.
//! Each test is the RoadRunner scenario at the engine's level: a client sends
//! `Prefer: respond-async`, gets `202`, polls again the same way until it gets the
//! binary (polling every 100 ms instead of `Retry-After` seconds, to stay quick): one
//! build, the binary delivered.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use serde_json::json;

use fake_velox::{FakeVelox, Reply};
use resolver_harness::{
    contents, harness, harness_with_cache, http_request, ms, resolve_or_pending, velox_config,
    Builds,
};
use velox_core::resolve::respond::{Prefer, Resolved};
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{Artifact, Config};

/// A Go executable built for the request the polls send (its build information is
/// verified), larger than the max_size below.
fn binary(builds: &Builds) -> (String, Vec<u8>) {
    builds.go_binary(
        "out",
        &http_request("v5.3.0"),
        b"a binary larger than max_size",
    )
}

fn config(url: &str, builds: &Builds, extra: serde_json::Value) -> Config {
    velox_config(url, &builds.root(), extra)
}

/// One poll as a client sends it: `Prefer: respond-async`.
async fn poll(resolver: &Resolver) -> Result<Resolved, velox_core::Error> {
    let prefer = Prefer::parse("respond-async");
    resolve_or_pending(resolver, http_request("v5.3.0"), None, prefer).await
}

/// Polls like a client following `Retry-After` until the binary comes (at most 60
/// polls); returns it and how many `202`s came first.
async fn poll_until_delivered(resolver: &Resolver) -> (Artifact, usize) {
    for pending in 0..60 {
        match poll(resolver).await {
            Ok(Resolved::Ready(a)) => return (a, pending),
            Ok(Resolved::Pending(_)) => tokio::time::sleep(ms(100)).await,
            Err(e) => panic!("poll {pending}: {e}"),
        }
    }
    panic!("60 polls, never delivered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_build_is_delivered_to_the_poll_with_the_cache_disabled() {
    let builds = Builds::new();
    let (path, bytes) = binary(&builds);
    let fake = FakeVelox::start(Reply::success_after(ms(400), &path)).await;
    let h = harness(config(&fake.url(), &builds, json!({})));
    let (got, pending) = poll_until_delivered(&h.resolver).await;
    assert!(pending >= 1, "the first answer was a 202");
    assert_eq!(contents(&got), bytes);
    assert_eq!(fake.call_count(), 1, "one build for every poll");
    assert_eq!(Stats::get(&h.stats.pickups_held), 1);
    assert!(Stats::get(&h.stats.pickups_served) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_build_larger_than_max_size_is_delivered_to_the_poll() {
    let builds = Builds::new();
    let (path, bytes) = binary(&builds);
    let fake = FakeVelox::start(Reply::success_after(ms(400), &path)).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &fake.url(),
        &builds,
        json!({"cache": {"enabled": true, "directory": cache_dir.path()}}),
    );
    cfg.cache.max_size_bytes = 16;
    let h = harness_with_cache(cfg);
    let (got, pending) = poll_until_delivered(&h.resolver).await;
    assert!(pending >= 1, "the first answer was a 202");
    assert_eq!(contents(&got), bytes);
    assert_eq!(fake.call_count(), 1, "one build for every poll");
    assert_eq!(Stats::get(&h.stats.pickups_held), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_ends_after_pickup_hold() {
    let builds = Builds::new();
    let (path, bytes) = binary(&builds);
    let fake = FakeVelox::start(Reply::success_after(ms(200), &path)).await;
    let h = harness(config(&fake.url(), &builds, json!({"pickup_hold": "1s"})));
    let (got, _) = poll_until_delivered(&h.resolver).await;
    assert_eq!(contents(&got), bytes);
    tokio::time::sleep(ms(1300)).await;
    let r = poll(&h.resolver).await;
    assert!(matches!(r, Ok(Resolved::Pending(_))), "{r:?}");
    // The second build reaches the fake a moment after its 202.
    fake.wait_for(ms(3000), "a second build once the hold ended", |c| {
        c.len() == 2
    })
    .await;
    h.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cache_or_a_hold_no_202_is_promised() {
    let builds = Builds::new();
    let (path, bytes) = binary(&builds);
    let fake = FakeVelox::start(Reply::success_after(ms(300), &path)).await;
    let h = harness(config(&fake.url(), &builds, json!({"pickup_hold": "0"})));
    let r = poll(&h.resolver).await;
    let Ok(Resolved::Ready(got)) = r else {
        panic!("want the binary, got {r:?}")
    };
    assert_eq!(contents(&got), bytes);
    assert_eq!(fake.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_past_the_hold_bound_is_not_held() {
    let builds = Builds::new();
    let big = velox_testkit::go_exe::GoExe::for_request(&http_request("v5.3.0"))
        .padded_to((1 << 20) + 1)
        .to_bytes();
    let path = builds.binary("out", &big);
    let fake = FakeVelox::start(Reply::success_after(ms(200), &path)).await;
    let h = harness(config(
        &fake.url(),
        &builds,
        json!({"pickup_hold_max_mb": 1}),
    ));
    let r = poll(&h.resolver).await;
    assert!(matches!(r, Ok(Resolved::Pending(_))), "{r:?}");
    fake.wait_for(ms(3000), "the build", |c| c.len() == 1).await;
    for _ in 0..300 {
        if h.resolver.builds_in_flight() == 0 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    assert_eq!(Stats::get(&h.stats.pickups_dropped), 1);
    assert_eq!(Stats::get(&h.stats.pickups_held), 0);
    h.shutdown.cancel();
}

#[test]
fn the_pickup_keys_have_documented_defaults() {
    let c = Config::from_json(b"{}").unwrap();
    assert_eq!(c.pickup_hold, std::time::Duration::from_secs(300));
    assert_eq!(c.pickup_hold_max_bytes, 1024 << 20);
}
