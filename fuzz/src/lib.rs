//! The properties the fuzz targets check, shared with the stable-toolchain test
//! `crates/core/tests/it/fuzz_properties.rs` (which includes `checks.rs` by path).

#[path = "checks.rs"]
pub mod checks;
