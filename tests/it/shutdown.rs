//! A host's stop through the C ABI: `vxm_engine_drain`, `vxm_engine_shutdown` then
//! `vxm_engine_free`, with and without `keep_abandoned_builds`, against a real HTTP fake
//! of `vx server`.

use velox_testkit::fake_velox;
use velox_testkit::ffi_host;

use std::ptr;
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use ffi_host::{resolve_on_thread, resolve_waiting_on, stats, Ptr, Resolved, World};
use velox_middleware::artifact::vxm_artifact_free;
use velox_middleware::cancel::*;
use velox_middleware::drain::vxm_engine_drain;
use velox_middleware::engine::*;
use velox_middleware::error::*;
use velox_middleware::status::vxm_status;

/// Timeouts long enough that only the drain and the free end a build.
fn engine(w: &World, url: &str, keep: bool) -> Ptr<vxm_engine> {
    let settings = serde_json::json!({
        "build_timeout": "20s",
        "request_timeout": "20s",
        "retry": {"max_attempts": 1},
        "keep_abandoned_builds": keep,
    });
    w.engine(url, settings)
}

/// A host request thread calling `vxm_resolve`; returns its status.
async fn resolve_status(pending: tokio::sync::oneshot::Receiver<Resolved>) -> vxm_status {
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    unsafe {
        vxm_error_free(r.error.0);
        vxm_artifact_free(r.artifact.0);
    }
    r.status
}

/// `vxm_engine_drain` on a plain thread (it blocks); returns (builds left, time taken).
async fn drain(engine: Ptr<vxm_engine>, timeout_ms: u64) -> (u64, Duration) {
    tokio::task::spawn_blocking(move || {
        let engine = engine;
        let start = Instant::now();
        let mut left = u64::MAX;
        let status = unsafe { vxm_engine_drain(engine.0, timeout_ms, &mut left, ptr::null_mut()) };
        assert_eq!(status, vxm_status::Ok);
        (left, start.elapsed())
    })
    .await
    .unwrap()
}

/// An engine on a fake that never answers, and a host thread waiting in `vxm_resolve`
/// for the build the fake has received.
async fn a_call_waiting_on_a_hung_build(
    w: &World,
) -> (
    FakeVelox,
    Ptr<vxm_engine>,
    tokio::sync::oneshot::Receiver<Resolved>,
) {
    let fake = FakeVelox::start(Reply::Hang).await;
    let engine = engine(w, &fake.url(), false);
    let pending = resolve_waiting_on(&fake, engine, None).await;
    (fake, engine, pending)
}

/// The host's client left (its cancel fired): the build is abandoned.
async fn abandon_a_build(fake: &FakeVelox, engine: Ptr<vxm_engine>) {
    let cancel = Ptr(vxm_cancel_new());
    let pending = resolve_waiting_on(fake, engine, Some(cancel)).await;
    unsafe { vxm_cancel_trigger(cancel.0) };
    let status = resolve_status(pending).await;
    assert_eq!(status, vxm_status::Cancelled);
    unsafe { vxm_cancel_free(cancel.0) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_lets_a_kept_build_finish_into_the_cache() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::success_after(
        Duration::from_millis(400),
        w.go_binary(b"kept binary"),
    ))
    .await;
    let engine = engine(&w, &fake.url(), true);
    abandon_a_build(&fake, engine).await;
    assert_eq!(stats(engine)["builds_in_flight"], 1);

    let (left, took) = drain(engine, 10_000).await;
    assert_eq!(left, 0);
    assert!(took < Duration::from_secs(5), "{took:?}");
    let s = stats(engine);
    assert_eq!(s["entries"], 1, "{s}");
    assert_eq!(s["builds_in_flight"], 0);
    assert_eq!(s["build_duration"]["count"], 1);
    assert!(!fake.calls()[0].dropped);
    unsafe { vxm_engine_free(engine.0) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_gives_up_on_a_kept_build_at_its_timeout_and_free_cancels_it() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::Hang).await;
    let engine = engine(&w, &fake.url(), true);
    abandon_a_build(&fake, engine).await;

    let (left, took) = drain(engine, 200).await;
    assert_eq!(left, 1);
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "{took:?}"
    );
    unsafe { vxm_engine_free(engine.0) };
    fake.wait_for(Duration::from_secs(5), "the upstream call dropped", |c| {
        c[0].dropped
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_drain_returns_at_once_and_free_cancels_the_build() {
    let w = World::new();
    // A client still waiting at shutdown: free ends its call with SHUTTING_DOWN.
    let (fake, engine, pending) = a_call_waiting_on_a_hung_build(&w).await;

    let (left, took) = drain(engine, 10_000).await;
    assert_eq!(left, 1);
    assert!(took < Duration::from_secs(1), "{took:?}");
    tokio::task::spawn_blocking(move || {
        let engine = engine;
        unsafe { vxm_engine_free(engine.0) }
    })
    .await
    .unwrap();
    let status = resolve_status(pending).await;
    assert_eq!(status, vxm_status::ShuttingDown);
    fake.wait_for(Duration::from_secs(5), "the upstream call dropped", |c| {
        c[0].dropped
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_calls_in_flight_and_refuses_new_ones_until_free() {
    let w = World::new();
    let (fake, engine, pending) = a_call_waiting_on_a_hung_build(&w).await;

    // Twice, the second while the first may still wait: both return once the call left.
    let shutdowns: Vec<_> = (0..2)
        .map(|_| {
            tokio::task::spawn_blocking(move || {
                let engine = engine;
                unsafe { vxm_engine_shutdown(engine.0) }
            })
        })
        .collect();
    for s in shutdowns {
        tokio::time::timeout(Duration::from_secs(5), s)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(resolve_status(pending).await, vxm_status::ShuttingDown);
    fake.wait_for(Duration::from_secs(5), "the upstream call dropped", |c| {
        c[0].dropped
    })
    .await;

    // The engine is still allocated: a late call is refused, not a use after free.
    let late = resolve_on_thread(engine, None);
    assert_eq!(resolve_status(late).await, vxm_status::ShuttingDown);
    assert_eq!(fake.call_count(), 1);
    unsafe { vxm_engine_free(engine.0) };
}

#[test]
fn shutdown_of_a_null_engine_is_a_no_op() {
    unsafe { vxm_engine_shutdown(ptr::null()) };
}

#[test]
fn drain_of_a_null_engine_is_a_status() {
    let status = unsafe { vxm_engine_drain(ptr::null(), 0, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(status, vxm_status::NullArgument);
}
