//! Builds in flight are bounded for every builder: `max_concurrent_builds` run,
//! `build_queue_limit` wait (their place is `position` in the `202` body), and a build
//! beyond that is refused at once with `Busy` (503 + Retry-After), never promised with a
//! `202`. Against a real HTTP fake of `vx server`.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use serde_json::json;

use fake_velox::{FakeVelox, Reply};
use resolver_harness::{harness, http_request, ms, resolve_or_pending, velox_config, Builds};
use velox_core::resolve::respond::{Prefer, Resolved};
use velox_core::stats::Stats;
use velox_core::{Config, Error};

fn config(url: &str, builds: &Builds, extra: serde_json::Value) -> Config {
    velox_config(url, &builds.root(), extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_build_queue_is_refused_busy_at_once_and_queued_builds_say_their_place() {
    let builds = Builds::new();
    let fake = FakeVelox::start(Reply::Hang).await;
    let extra = json!({"max_concurrent_builds": 2, "build_queue_limit": 1});
    let h = harness(config(&fake.url(), &builds, extra));
    let prefer = Prefer::parse("respond-async");
    let mut positions = Vec::new();
    for tag in ["v5.0.1", "v5.0.2", "v5.0.3"] {
        let r = resolve_or_pending(&h.resolver, http_request(tag), None, prefer).await;
        let Ok(Resolved::Pending(p)) = r else {
            panic!("{tag}: want a 202, got {r:?}")
        };
        positions.push(p.position);
        let body: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
        assert_eq!(body["position"], json!(p.position));
    }
    assert_eq!(
        positions,
        [None, None, Some(1)],
        "two run, one waits first in line"
    );
    let started = std::time::Instant::now();
    let refused = resolve_or_pending(&h.resolver, http_request("v5.0.4"), None, prefer).await;
    let Err(err @ Error::Busy { .. }) = refused else {
        panic!("want Busy, got {refused:?}")
    };
    assert!(started.elapsed() < ms(500), "refused at once");
    assert_eq!(err.http_status(), 503);
    assert_eq!(err.code(), "busy");
    assert!(err.retry_after_secs().is_some_and(|s| s >= 1), "{err}");
    fake.wait_for(ms(3000), "two builds upstream", |c| c.len() == 2)
        .await;
    tokio::time::sleep(ms(200)).await;
    assert_eq!(
        fake.call_count(),
        2,
        "no more than max_concurrent_builds at once"
    );
    assert_eq!(h.resolver.builds_queued(), 1);
    assert_eq!(Stats::get(&h.stats.builds_refused), 1);
    // A request for a build already in flight joins it: no slot, no refusal.
    let joined = resolve_or_pending(&h.resolver, http_request("v5.0.3"), None, prefer).await;
    assert!(matches!(joined, Ok(Resolved::Pending(_))), "{joined:?}");
    h.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_build_runs_when_a_slot_frees() {
    let builds = Builds::new();
    let path = builds.binary("out", b"queued");
    let fake = FakeVelox::start(Reply::success_after(ms(300), &path)).await;
    // One output answers three tags: admission is under test here, not provenance.
    let extra = json!({"max_concurrent_builds": 1, "build_queue_limit": 4, "verify_builds": false});
    let h = harness(config(&fake.url(), &builds, extra));
    let tasks: Vec<_> = ["v5.0.1", "v5.0.2", "v5.0.3"]
        .into_iter()
        .map(|tag| {
            let resolver = h.resolver.clone();
            tokio::spawn(async move {
                resolver_harness::resolve(&resolver, http_request(tag), None).await
            })
        })
        .collect();
    for t in tasks {
        let got = tokio::time::timeout(ms(10_000), t).await.unwrap().unwrap();
        assert!(got.is_ok(), "{got:?}");
    }
    assert_eq!(fake.call_count(), 3);
    assert_eq!(h.resolver.builds_queued(), 0);
}

#[test]
fn the_admission_keys_have_documented_defaults_and_bounds() {
    let c = Config::from_json(b"{}").unwrap();
    assert_eq!(c.max_concurrent_builds, 8);
    assert_eq!(c.build_queue_limit, 32);
    for json in [
        r#"{"max_concurrent_builds":0}"#,
        r#"{"max_concurrent_builds":5000}"#,
        r#"{"build_queue_limit":-1}"#,
    ] {
        let key = json.split('"').nth(1).unwrap();
        match Config::from_json(json.as_bytes()) {
            Err(Error::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{json}: {other:?}"),
        }
    }
}
