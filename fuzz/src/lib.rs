//! The properties the fuzz targets check, shared with the stable-toolchain test
//! `tests/fuzz_properties.rs` of the main crate (which includes `checks.rs` by path).

#[path = "checks.rs"]
pub mod checks;
