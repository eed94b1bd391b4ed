//! `vxm_resolve` through the C ABI, as a host calls it: blocking host threads, a
//! cancel token triggered from another thread, the engine freed under a blocked call.
//! The fake Velox server runs on this test's tokio runtime; the ABI calls run on plain
//! threads (the library blocks on its own runtime).

use velox_testkit::fake_velox;
use velox_testkit::ffi_host;

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use ffi_host::{message, resolve_on_thread, resolve_waiting_on, stats, Ptr, World};
use velox_middleware::artifact::*;
use velox_middleware::cancel::*;
use velox_middleware::engine::*;
use velox_middleware::error::*;
use velox_middleware::status::vxm_status;

/// Short retries and timeouts: every test here ends in well under a second. A departed
/// caller cancels its build at once (`build_linger` 0), as the cancel test checks.
fn engine(w: &World, url: &str) -> Ptr<vxm_engine> {
    let settings = serde_json::json!({
        "build_linger": "0s",
        "build_timeout": "10s",
        "request_timeout": "10s",
        "retry": {"max_attempts": 2, "initial_delay": "5ms", "max_delay": "20ms"},
    });
    w.engine(url, settings)
}

fn read_artifact(a: *const vxm_artifact) -> Vec<u8> {
    let fd = unsafe { libc::dup(vxm_artifact_fd(a)) };
    assert!(fd >= 0);
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_builds_then_hits_through_the_c_abi() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::success(w.go_binary(b"abi bytes"))).await;
    let engine = engine(&w, &fake.url());

    for expected_source in [
        vxm_artifact_source_kind::Built,
        vxm_artifact_source_kind::Hit,
    ] {
        let r = resolve_on_thread(engine, None).await.unwrap();
        assert_eq!(r.status, vxm_status::Ok, "{}", unsafe {
            message(r.error.0)
        });
        let a = r.artifact.0;
        assert_eq!(unsafe { vxm_artifact_source(a) }, expected_source as u32);
        assert_eq!(
            unsafe { vxm_artifact_size(a) },
            ffi_host::exe(b"abi bytes").len() as u64
        );
        assert_eq!(read_artifact(a), ffi_host::exe(b"abi bytes"));
        let key = unsafe { CStr::from_ptr(vxm_artifact_key(a)) };
        assert_eq!(key.to_bytes().len(), 64);
        unsafe { vxm_artifact_free(a) };
    }
    assert_eq!(fake.call_count(), 1);
    let s = stats(engine);
    assert_eq!(s["builds"], 1);
    assert_eq!(s["hits"], 1);
    assert_eq!(s["misses"], 1);
    // Every eviction reason is there before any eviction, so hosts need no list.
    let reasons = serde_json::json!({"age": 0, "count": 0, "manual": 0, "mismatch": 0, "size": 0});
    assert_eq!(s["evictions_by_reason"], reasons);
    unsafe { vxm_engine_free(engine.0) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vxm_cancel_from_another_thread_ends_the_call_and_the_upstream_request() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::Hang).await;
    let engine = engine(&w, &fake.url());
    let cancel = Ptr(vxm_cancel_new());

    let pending = resolve_waiting_on(&fake, engine, Some(cancel)).await;
    let triggered = Instant::now();
    unsafe { vxm_cancel_trigger(cancel.0) };
    let r = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("vxm_resolve did not return after the cancel")
        .unwrap();
    assert_eq!(r.status, vxm_status::Cancelled);
    assert!(r.artifact.0.is_null());
    assert!(
        r.returned - triggered < Duration::from_millis(500),
        "{:?}",
        r.returned - triggered
    );
    assert_eq!(
        unsafe { vxm_error_status(r.error.0) },
        vxm_status::Cancelled
    );
    unsafe { vxm_error_free(r.error.0) };
    fake.wait_for(Duration::from_secs(5), "the upstream call dropped", |c| {
        c[0].dropped
    })
    .await;
    unsafe { vxm_cancel_free(cancel.0) };
    unsafe { vxm_engine_free(engine.0) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_the_engine_ends_a_blocked_resolve_with_shutting_down() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::Hang).await;
    let engine = engine(&w, &fake.url());

    let pending = resolve_waiting_on(&fake, engine, None).await;
    let freed = Instant::now();
    // vxm_engine_free blocks until the call has left: run it off the async threads.
    tokio::task::spawn_blocking(move || unsafe { vxm_engine_free({ engine }.0) })
        .await
        .unwrap();
    assert!(
        freed.elapsed() < Duration::from_secs(1),
        "{:?}",
        freed.elapsed()
    );
    let r = pending.await.unwrap();
    assert_eq!(r.status, vxm_status::ShuttingDown);
    assert_eq!(unsafe { vxm_error_http_status(r.error.0) }, 503);
    unsafe { vxm_error_free(r.error.0) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_reports_422_through_the_c_abi() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::connect("invalid_argument", "plugins: bad tag")).await;
    let engine = engine(&w, &fake.url());
    let r = resolve_on_thread(engine, None).await.unwrap();
    assert_eq!(r.status, vxm_status::UpstreamRejected);
    assert_eq!(unsafe { vxm_error_http_status(r.error.0) }, 422);
    assert!(unsafe { message(r.error.0) }.contains("bad tag"));
    unsafe { vxm_error_free(r.error.0) };
    unsafe { vxm_engine_free(engine.0) };
}
