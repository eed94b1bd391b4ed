//! Request validation and the cache key: what every request pays before the cache.

use velox_testkit::bench as common;

use std::ptr;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use velox_core::request::BuildRequest;
use velox_middleware::cache::vxm_request_key;
use velox_middleware::status::vxm_status;
use velox_middleware::strings::vxm_string_free;

fn parse_and_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    for plugins in [1usize, 10] {
        let json = common::request_json(1, plugins);
        group.bench_with_input(
            BenchmarkId::new("parse_validate_key", plugins),
            &json,
            |b, json| {
                b.iter(|| {
                    let req = BuildRequest::parse(black_box(json.as_bytes())).unwrap();
                    black_box(req.key())
                })
            },
        );
        // The same through the C ABI, as a host that only wants the key calls it.
        group.bench_with_input(
            BenchmarkId::new("vxm_request_key", plugins),
            &json,
            |b, json| {
                b.iter(|| {
                    let mut key = ptr::null_mut();
                    let mut err = ptr::null_mut();
                    // SAFETY: valid buffer and out pointers; the key is freed below.
                    let status =
                        unsafe { vxm_request_key(json.as_ptr(), json.len(), &mut key, &mut err) };
                    assert!(matches!(status, vxm_status::Ok));
                    // SAFETY: a string the library allocated.
                    unsafe { vxm_string_free(key) };
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, parse_and_key);
criterion_main!(benches);
