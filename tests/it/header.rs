//! The checked-in header must be exactly what cbindgen makes of this crate now.

#[test]
fn header_is_current() {
    let fresh = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/velox_middleware.h"))
        .expect("build.rs generated the header");
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/velox_middleware.h"
    ))
    .expect("include/velox_middleware.h exists");
    assert!(
        fresh == checked_in,
        "include/velox_middleware.h is stale: run `make header` and commit it"
    );
}
