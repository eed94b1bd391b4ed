//! A cache hit through the C ABI with a warm index: what the Go shim pays per download
//! before it streams (validate, key, index lookup, open, artifact handle, free).

use velox_testkit::bench as common;

use std::ffi::CString;
use std::fs;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use velox_middleware::artifact::{vxm_artifact, vxm_artifact_free};
use velox_middleware::cache::{vxm_cache_lookup, vxm_cache_store};
use velox_middleware::engine::{vxm_engine_free, vxm_engine_new};
use velox_middleware::error::vxm_error;
use velox_middleware::resolve::vxm_resolve;
use velox_middleware::status::vxm_status;

fn hit(c: &mut Criterion) {
    let dir = common::scratch("abi-hit-");
    let cache_dir = dir.path().join("cache");
    let src = dir.path().join("built.bin");
    fs::write(&src, vec![0x5au8; 1 << 20]).unwrap();
    // server_url is required but never contacted: every call below is a hit.
    let config = format!(
        r#"{{"server_url":"http://127.0.0.1:9","cache":{{"enabled":true,"directory":"{}","access_update_interval":"1h"}},"allowed_build_dirs":["{}"],"log_level":"error"}}"#,
        cache_dir.display(),
        dir.path().display()
    );

    let mut engine = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: valid buffers and out pointers; the engine is freed at the end.
    let status = unsafe { vxm_engine_new(config.as_ptr(), config.len(), &mut engine, &mut err) };
    assert!(matches!(status, vxm_status::Ok), "engine_new failed");

    let req = common::request_json(1, 3);
    let src_c = CString::new(src.to_str().unwrap()).unwrap();
    let mut art = ptr::null_mut();
    // SAFETY: as above; the artifact is freed at once.
    let status = unsafe {
        vxm_cache_store(
            engine,
            req.as_ptr(),
            req.len(),
            src_c.as_ptr(),
            1,
            &mut art,
            &mut err,
        )
    };
    assert!(matches!(status, vxm_status::Ok), "store failed");
    // SAFETY: an artifact the library handed out.
    unsafe { vxm_artifact_free(art) };

    let mut group = c.benchmark_group("abi_hit");
    group.bench_function("vxm_cache_lookup", |b| {
        b.iter(|| {
            // SAFETY: as above.
            hit_through(|art, err| unsafe {
                vxm_cache_lookup(engine, req.as_ptr(), req.len(), art, err)
            })
        })
    });
    group.bench_function("vxm_resolve", |b| {
        b.iter(|| {
            // SAFETY: as above; no cancel token.
            hit_through(|art, err| unsafe {
                vxm_resolve(engine, req.as_ptr(), req.len(), ptr::null(), art, err)
            })
        })
    });
    group.finish();
    // SAFETY: no call is in flight.
    unsafe { vxm_engine_free(engine) };
}

/// One call that answers the cached artifact, which is freed at once (what a host does
/// per request, minus the streaming).
fn hit_through(call: impl Fn(*mut *mut vxm_artifact, *mut *mut vxm_error) -> vxm_status) {
    let mut art = ptr::null_mut();
    let mut err = ptr::null_mut();
    let status = call(&mut art, &mut err);
    assert!(matches!(status, vxm_status::Ok));
    // SAFETY: an artifact the library handed out.
    unsafe { vxm_artifact_free(art) };
}

criterion_group!(benches, hit);
criterion_main!(benches);
