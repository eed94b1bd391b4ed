//! `vxm_resolve_or_pending` and `vxm_pending` through the C ABI, as a host calls them:
//! a blocking host thread gets a 202 answer (status, Retry-After, JSON body, key) while
//! the build goes on, then the binary from the cache; NULL arguments are refused.

use velox_testkit::fake_velox;
use velox_testkit::ffi_host;

use std::ffi::CStr;
use std::ptr;
use std::time::Duration;

use fake_velox::{FakeVelox, Reply};
use ffi_host::{message, stats, Ptr, World, REQUEST};
use velox_middleware::artifact::*;
use velox_middleware::engine::*;
use velox_middleware::error::*;
use velox_middleware::pending::*;
use velox_middleware::status::vxm_status;

struct Answer {
    status: vxm_status,
    artifact: Ptr<vxm_artifact>,
    pending: Ptr<vxm_pending>,
    error: Ptr<vxm_error>,
}

/// Calls `vxm_resolve_or_pending` for [`REQUEST`] on a new thread, as a host would.
async fn resolve_or_pending(engine: Ptr<vxm_engine>, prefer: Option<&'static str>) -> Answer {
    resolve_or_pending_of(engine, REQUEST, prefer).await
}

/// [`resolve_or_pending`] for another request body.
async fn resolve_or_pending_of(
    engine: Ptr<vxm_engine>,
    request: &'static str,
    prefer: Option<&'static str>,
) -> Answer {
    tokio::task::spawn_blocking(move || {
        let engine = engine;
        let (mut artifact, mut pending, mut error) =
            (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let (p, n) = prefer.map_or((ptr::null(), 0), |p| (p.as_ptr(), p.len()));
        let status = unsafe {
            vxm_resolve_or_pending(
                engine.0,
                request.as_ptr(),
                request.len(),
                p,
                n,
                ptr::null(),
                &mut artifact,
                &mut pending,
                &mut error,
            )
        };
        Answer {
            status,
            artifact: Ptr(artifact),
            pending: Ptr(pending),
            error: Ptr(error),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_gets_202_then_the_binary_through_the_c_abi() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::success_after(
        Duration::from_millis(700),
        w.go_binary(b"later"),
    ))
    .await;
    let settings = serde_json::json!({"build_timeout": "10s", "build_linger": "0s"});
    let engine = w.engine(&fake.url(), settings);

    let r = resolve_or_pending(engine, Some("respond-async")).await;
    assert_eq!(r.status, vxm_status::Ok, "{}", unsafe {
        message(r.error.0)
    });
    assert!(r.artifact.0.is_null());
    let p = r.pending.0;
    assert!(!p.is_null());
    assert_eq!(unsafe { vxm_pending_http_status(p) }, 202);
    assert!(unsafe { vxm_pending_retry_after(p) } >= 1);
    assert_eq!(unsafe { vxm_pending_preference_applied(p) }, 1);
    let key = unsafe { CStr::from_ptr(vxm_pending_key(p)) }
        .to_str()
        .unwrap();
    assert_eq!(key.len(), 64);
    let body: serde_json::Value = serde_json::from_str(
        unsafe { CStr::from_ptr(vxm_pending_json(p)) }
            .to_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["status"], "building");
    assert_eq!(body["key"], key);
    assert!(body["elapsed_ms"].is_u64());
    assert!(body.get("position").is_some());
    unsafe { vxm_pending_free(p) };

    // Without a Prefer header and without respond_after, the call waits for the binary.
    let r = resolve_or_pending(engine, None).await;
    assert_eq!(r.status, vxm_status::Ok);
    assert!(r.pending.0.is_null());
    let size = ffi_host::exe(b"later").len() as u64;
    assert_eq!(unsafe { vxm_artifact_size(r.artifact.0) }, size);
    unsafe { vxm_artifact_free(r.artifact.0) };
    assert_eq!(fake.call_count(), 1);
    let s = stats(engine);
    assert_eq!(s["async_answers"], 1);
    assert_eq!(s["joined_after_leave"], 1);
    unsafe { vxm_engine_free(engine.0) };
}

#[test]
fn null_arguments_are_refused_and_accessors_are_null_safe() {
    // No engine; the calls differ in which output arguments they pass.
    fn without_engine(
        out_pending: *mut *mut vxm_pending,
        out_error: *mut *mut vxm_error,
    ) -> vxm_status {
        let mut a = ptr::null_mut();
        unsafe {
            vxm_resolve_or_pending(
                ptr::null(),
                REQUEST.as_ptr(),
                REQUEST.len(),
                ptr::null(),
                0,
                ptr::null(),
                &mut a,
                out_pending,
                out_error,
            )
        }
    }
    let (mut p, mut e) = (ptr::null_mut(), ptr::null_mut());
    assert_eq!(without_engine(&mut p, &mut e), vxm_status::NullArgument);
    assert!(unsafe { message(e) }.contains("engine"));
    unsafe { vxm_error_free(e) };
    assert_eq!(
        without_engine(ptr::null_mut(), ptr::null_mut()),
        vxm_status::NullArgument
    );
    unsafe {
        assert_eq!(vxm_pending_http_status(ptr::null()), 0);
        assert_eq!(vxm_pending_retry_after(ptr::null()), 0);
        assert_eq!(vxm_pending_elapsed_ms(ptr::null()), 0);
        assert_eq!(vxm_pending_preference_applied(ptr::null()), 0);
        assert_eq!(
            CStr::from_ptr(vxm_pending_json(ptr::null())).to_bytes(),
            b""
        );
        assert_eq!(CStr::from_ptr(vxm_pending_key(ptr::null())).to_bytes(), b"");
        vxm_pending_free(ptr::null_mut());
    }
}

/// Another build than [`REQUEST`]: the http plugin at another tag.
const OTHER_REQUEST: &str = r#"{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"},"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.1"}]}"#;

/// Builds in flight are bounded: with one running and no queue, another build is
/// refused at once with BUSY, 503, code `busy` and a `Retry-After`, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_build_queue_answers_busy_with_retry_after_through_the_c_abi() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::Hang).await;
    let settings = serde_json::json!({"max_concurrent_builds": 1, "build_queue_limit": 0});
    let engine = w.engine(&fake.url(), settings);
    let r = resolve_or_pending(engine, Some("respond-async")).await;
    assert!(!r.pending.0.is_null(), "{}", unsafe { message(r.error.0) });
    unsafe { vxm_pending_free(r.pending.0) };
    let r = resolve_or_pending_of(engine, OTHER_REQUEST, Some("respond-async")).await;
    assert_eq!(r.status, vxm_status::Busy);
    assert!(r.pending.0.is_null() && r.artifact.0.is_null());
    let e = r.error.0;
    assert_eq!(unsafe { vxm_error_http_status(e) }, 503);
    assert_eq!(unsafe { CStr::from_ptr(vxm_error_code(e)) }, c"busy");
    assert!(unsafe { vxm_error_retry_after(e) } >= 1);
    assert!(unsafe { message(e) }.contains("1 running"), "{}", unsafe {
        message(e)
    });
    unsafe { vxm_error_free(e) };
    assert_eq!(unsafe { vxm_error_retry_after(ptr::null()) }, 0);
    let s = stats(engine);
    assert_eq!(s["builds_refused"], 1);
    assert_eq!(s["builds_queued"], 0);
    fake.wait_for(Duration::from_secs(3), "the one build", |c| c.len() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.call_count(), 1);
    unsafe { vxm_engine_free(engine.0) };
}

/// The RoadRunner scenario of a `202` with the cache disabled, through the C ABI: the
/// client polls with `Prefer: respond-async` until it gets the binary; one build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_build_is_delivered_with_the_cache_disabled_through_the_c_abi() {
    let w = World::new();
    let binary = w.go_binary(b"held for the poll");
    let fake = FakeVelox::start(Reply::success_after(Duration::from_millis(400), binary)).await;
    let settings = serde_json::json!({"cache": {"enabled": false}, "build_linger": "0s"});
    let engine = w.engine(&fake.url(), settings);
    let mut pending = 0;
    let artifact = loop {
        assert!(pending < 60, "60 polls, never delivered");
        let r = resolve_or_pending(engine, Some("respond-async")).await;
        assert_eq!(r.status, vxm_status::Ok, "{}", unsafe {
            message(r.error.0)
        });
        if !r.artifact.0.is_null() {
            break r.artifact.0;
        }
        unsafe { vxm_pending_free(r.pending.0) };
        pending += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(pending >= 1);
    let built = velox_testkit::ffi_host::exe(b"held for the poll");
    assert_eq!(unsafe { vxm_artifact_size(artifact) }, built.len() as u64);
    unsafe { vxm_artifact_free(artifact) };
    assert_eq!(fake.call_count(), 1, "one build for every poll");
    let s = stats(engine);
    assert_eq!(s["pickups_held"], 1);
    unsafe { vxm_engine_free(engine.0) };
}
