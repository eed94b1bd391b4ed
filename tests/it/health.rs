//! `vxm_engine_health_json` through the C ABI: what a host's `/health` and `/ready`
//! checks are made of, with a real cache directory.

use std::ffi::CStr;
use std::ptr;

use velox_middleware::drain::vxm_engine_drain;
use velox_middleware::engine::*;
use velox_middleware::error::*;
use velox_middleware::health::vxm_engine_health_json;
use velox_middleware::status::vxm_status;
use velox_middleware::strings::vxm_string_free;

fn new_engine(config: serde_json::Value) -> *mut vxm_engine {
    let json = config.to_string();
    let mut engine = ptr::null_mut();
    let status = unsafe { vxm_engine_new(json.as_ptr(), json.len(), &mut engine, ptr::null_mut()) };
    assert_eq!(status, vxm_status::Ok);
    engine
}

fn health(engine: *const vxm_engine) -> serde_json::Value {
    let mut json = ptr::null_mut();
    let status = unsafe { vxm_engine_health_json(engine, &mut json, ptr::null_mut()) };
    assert_eq!(status, vxm_status::Ok);
    let parsed = serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy()).unwrap();
    unsafe { vxm_string_free(json) };
    parsed
}

#[test]
fn healthy_and_ready_until_the_cache_directory_goes_and_the_host_drains() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let engine = new_engine(serde_json::json!({
        "server_url": "http://127.0.0.1:9",
        "cache": {"enabled": true, "directory": cache, "cleanup_interval": "0"},
    }));

    let h = health(engine);
    assert_eq!(h["healthy"], true, "{h}");
    assert_eq!(h["ready"], true, "{h}");
    assert_eq!(h["build_path"], "velox");
    assert_eq!(h["cache_enabled"], true);
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp_"))
        .collect();
    assert!(left.is_empty(), "the probe must not stay: {left:?}");

    // The directory vanishes under the running engine (an operator's rm -rf, a lost mount).
    std::fs::remove_dir_all(&cache).unwrap();
    let h = health(engine);
    assert_eq!(h["healthy"], false, "{h}");
    let why = h["cache_problem"].as_str().unwrap();
    assert!(
        why.contains("cache.directory") && why.contains("cache"),
        "{why}"
    );
    assert_eq!(
        h["ready"], true,
        "readiness is about the build path and stopping: {h}"
    );

    // The host begins to stop: no longer ready.
    let status = unsafe { vxm_engine_drain(engine, 0, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(status, vxm_status::Ok);
    let h = health(engine);
    assert_eq!(h["ready"], false, "{h}");
    assert_eq!(h["stopping"], true, "{h}");
    unsafe { vxm_engine_free(engine) };
}

#[test]
fn a_null_engine_or_output_is_refused() {
    let mut json = ptr::null_mut();
    let mut err = ptr::null_mut();
    let status = unsafe { vxm_engine_health_json(ptr::null(), &mut json, &mut err) };
    assert_eq!(status, vxm_status::NullArgument);
    assert!(json.is_null());
    unsafe { vxm_error_free(err) };
    let engine = new_engine(serde_json::json!({"server_url": "http://127.0.0.1:9"}));
    let status = unsafe { vxm_engine_health_json(engine, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(status, vxm_status::NullArgument);
    unsafe { vxm_engine_free(engine) };
}
