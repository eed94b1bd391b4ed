//! Long builds for impatient clients, against a real HTTP fake of `vx server`: a build
//! outlives its last waiter for `build_linger` so that a retry joins it; `respond_after`
//! and `Prefer: respond-async` answer "still building" while the build goes on; the
//! failure of a build nobody waited for is answered to the next poll, not rebuilt.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use std::path::Path;
use std::time::Duration;

use fake_velox::{FakeVelox, Reply};
use resolver_harness::{harness, ms, resolve, resolve_or_pending, Builds, Harness};
use serde_json::json;
use velox_core::config::RetryConfig;
use velox_core::resolve::respond::{Prefer, Resolved};
use velox_core::stats::Stats;
use velox_core::{BuildRequest, Cancel, Config, Error, Source};

fn config(url: &str, allowed: &Path, extra: serde_json::Value) -> Config {
    let mut json = json!({
        "server_url": url,
        "cache": {"enabled": false},
        "allowed_build_dirs": [allowed],
        "build_timeout": "10s",
        "request_timeout": "10s",
    });
    for (k, v) in extra.as_object().unwrap() {
        json[k] = v.clone();
    }
    let mut c = Config::from_json(json.to_string().as_bytes()).unwrap();
    c.retry = RetryConfig {
        max_attempts: 1,
        initial_delay: ms(5),
        max_delay: ms(20),
        backoff_multiplier: 2.0,
    };
    c
}

/// A fake answering `reply` and a harness resolving through it, `extra` keys in its config.
async fn served(builds: &Builds, reply: Reply, extra: serde_json::Value) -> (FakeVelox, Harness) {
    let fake = FakeVelox::start(reply).await;
    let h = harness(config(&fake.url(), &builds.root(), extra));
    (fake, h)
}

fn request() -> BuildRequest {
    let json = json!({
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}]
    });
    BuildRequest::parse(json.to_string().as_bytes()).unwrap()
}

/// A client that leaves once the build reached the fake (a proxy giving up).
async fn leave_during_the_build(h: &Harness, fake: &FakeVelox) {
    let cancel = Cancel::new();
    let resolver = h.resolver.clone();
    let c = cancel.clone();
    let waiter = tokio::spawn(async move { resolve(&resolver, request(), Some(c)).await });
    fake.wait_for(ms(3000), "the build call", |c| c.len() == 1)
        .await;
    cancel.trigger();
    let r = waiter.await.unwrap();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_client_left_joins_the_lingering_build() {
    let builds = Builds::new();
    let path = builds.go_binary("out", &request(), b"lingered").0;
    let (fake, h) = served(&builds, Reply::success_after(ms(800), &path), json!({})).await;
    leave_during_the_build(&h, &fake).await;
    tokio::time::sleep(ms(200)).await;
    assert_eq!(h.resolver.builds_in_flight(), 1, "the build lingers");
    let again = resolve(&h.resolver, request(), None).await.unwrap();
    assert_eq!(again.source, Source::Joined);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1, "one upstream build");
    assert!(!calls[0].dropped);
    assert_eq!(Stats::get(&h.stats.joined_after_leave), 1);
    assert_eq!(Stats::get(&h.stats.linger_expired), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lingering_build_nobody_comes_back_for_is_cancelled_after_build_linger() {
    let builds = Builds::new();
    let extra = json!({"build_linger": "300ms"});
    let (fake, h) = served(&builds, Reply::Hang, extra).await;
    leave_during_the_build(&h, &fake).await;
    tokio::time::sleep(ms(100)).await;
    assert!(!fake.calls()[0].dropped, "still lingering");
    fake.wait_for(ms(3000), "the upstream call dropped", |c| c[0].dropped)
        .await;
    assert_eq!(h.resolver.builds_in_flight(), 0);
    assert_eq!(Stats::get(&h.stats.linger_expired), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_lingering_build() {
    let builds = Builds::new();
    let (fake, h) = served(&builds, Reply::Hang, json!({})).await;
    leave_during_the_build(&h, &fake).await;
    h.shutdown.cancel();
    fake.wait_for(ms(3000), "the upstream call dropped", |c| c[0].dropped)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respond_after_answers_pending_and_the_build_goes_on_even_without_linger() {
    let builds = Builds::new();
    let path = builds.go_binary("out", &request(), b"async").0;
    let extra = json!({"respond_after": "100ms", "build_linger": "0"});
    let (fake, h) = served(&builds, Reply::success_after(ms(900), &path), extra).await;
    let first = resolve_or_pending(&h.resolver, request(), None, Prefer::default())
        .await
        .unwrap();
    let Resolved::Pending(p) = first else {
        panic!("want a pending answer, got {first:?}")
    };
    assert_eq!(p.key, request().key());
    assert!(p.elapsed_ms >= 90, "{p:?}");
    assert!(p.retry_after_secs >= 1, "{p:?}");
    assert!(!p.preference_applied);
    let body: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
    assert_eq!(body["status"], "building");
    assert_eq!(body["key"], request().key().as_str());
    assert!(body["position"].is_null());
    // Nobody waits now, and build_linger is 0: the promise keeps the build alive.
    tokio::time::sleep(ms(300)).await;
    assert!(!fake.calls()[0].dropped);
    let second = resolve_or_pending(&h.resolver, request(), None, Prefer::default())
        .await
        .unwrap();
    assert!(matches!(second, Resolved::Pending(_)), "{second:?}");
    let done = resolve(&h.resolver, request(), None).await.unwrap();
    assert_eq!(done.source, Source::Joined);
    assert_eq!(fake.call_count(), 1);
    assert_eq!(Stats::get(&h.stats.async_answers), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_respond_async_answers_pending_without_the_config_key() {
    let builds = Builds::new();
    let path = builds.go_binary("out", &request(), b"prefer").0;
    let (fake, h) = served(&builds, Reply::success_after(ms(500), &path), json!({})).await;
    // Without the key or the header the caller waits for the binary.
    let prefer = Prefer::parse("respond-async, wait=0");
    let r = resolve_or_pending(&h.resolver, request(), None, prefer)
        .await
        .unwrap();
    let Resolved::Pending(p) = r else {
        panic!("want a pending answer, got {r:?}")
    };
    assert!(p.preference_applied);
    let r = resolve_or_pending(&h.resolver, request(), None, Prefer::default())
        .await
        .unwrap();
    assert!(matches!(r, Resolved::Ready(_)), "{r:?}");
    assert_eq!(fake.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_nobody_waited_for_is_answered_to_the_next_poll_not_rebuilt() {
    let builds = Builds::new();
    let reply = Reply::connect_after(ms(300), "internal", "building plugins: exit status 1");
    let extra = json!({"respond_after": "50ms"});
    let (fake, h) = served(&builds, reply, extra).await;
    let r = resolve_or_pending(&h.resolver, request(), None, Prefer::default())
        .await
        .unwrap();
    assert!(matches!(r, Resolved::Pending(_)), "{r:?}");
    fake.wait_for(ms(3000), "the build call", |c| c.len() == 1)
        .await;
    for _ in 0..200 {
        if h.resolver.builds_in_flight() == 0 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    for _ in 0..5 {
        let err = resolve_or_pending(&h.resolver, request(), None, Prefer::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit status 1"), "{err}");
    }
    assert_eq!(fake.call_count(), 1, "a polling loop restarts nothing");
    assert_eq!(Stats::get(&h.stats.failures_replayed), 5);
    // A forced rebuild is asked for on purpose and builds again.
    let mut forced = request();
    forced.force_rebuild = true;
    let _ = resolve(&h.resolver, forced, None).await;
    assert_eq!(fake.call_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_a_waiter_received_is_not_remembered() {
    let builds = Builds::new();
    let (fake, h) = served(&builds, Reply::connect("internal", "boom"), json!({})).await;
    for n in 1..=2 {
        let err = resolve(&h.resolver, request(), None).await.unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert_eq!(fake.call_count(), n);
    }
}

#[test]
fn the_two_keys_have_documented_defaults_bounds_and_named_errors() {
    let c = Config::from_json(b"{}").unwrap();
    assert_eq!(c.build_linger, Duration::from_secs(180));
    assert_eq!(c.respond_after, None);
    let c =
        Config::from_json(br#"{"build_timeout":"1m","build_linger":"10m","respond_after":"0"}"#)
            .unwrap();
    assert_eq!(
        c.build_linger,
        Duration::from_secs(60),
        "capped at build_timeout"
    );
    assert_eq!(c.respond_after, None, "0 = off");
    let c = Config::from_json(br#"{"build_linger":"0s","respond_after":"25s"}"#).unwrap();
    assert_eq!(c.build_linger, Duration::ZERO);
    assert_eq!(c.respond_after, Some(Duration::from_secs(25)));
    for (key, json) in [
        ("build_linger", r#"{"build_linger":"soon"}"#),
        ("respond_after", r#"{"respond_after":25}"#),
    ] {
        match Config::from_json(json.as_bytes()) {
            Err(Error::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{json}: {other:?}"),
        }
    }
}
