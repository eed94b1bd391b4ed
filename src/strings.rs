//! Strings the library hands out, and the library version.

use std::ffi::{c_char, CString};

use super::args::{arg_ref, need_out};
use super::boundary::{boundary, guard};
use super::engine::vxm_engine;
use super::error::vxm_error;
use super::failure::Failure;
use super::status::vxm_status;
use velox_core::engine::Engine;
use velox_core::error::Error;

/// What `vxm_version` reports: the version of the package that ships the library. Hosts
/// refuse a library whose major version (minor while 0.x) differs from the one they were
/// written for.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version ("0.1.0"), static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn vxm_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// Frees a string returned by this library (`vxm_request_key`, `vxm_stats_json`, ...),
/// not one owned by a handle or static. NULL is a no-op. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn vxm_string_free(s: *mut c_char) {
    guard(|| {
        if !s.is_null() {
            // SAFETY: made by `CString::into_raw` in this library, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// Hands an owned C string to the caller through an output argument.
pub(crate) fn put_string(out: *mut *mut c_char, s: &str) {
    // SAFETY: the caller checked `out` with `need_out` before doing the work.
    unsafe { *out = super::error::cstring_lossy(s).into_raw() };
}

/// The body of an export that answers a JSON string through `*out_json`: checks
/// `out_json` before any work (so nothing is made and then lost), runs `json` inside the
/// panic [`boundary`] and hands its string to the caller (free with `vxm_string_free`).
pub(crate) fn answer_json(
    out_json: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
    json: impl FnOnce() -> Result<String, Failure>,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_json, "out_json")?;
        put_string(out_json, &json()?);
        Ok(())
    })
}

/// [`answer_json`] for an export that asks `engine` (checked after `out_json`).
///
/// # Safety
/// `engine` is NULL or a live handle from `vxm_engine_new`, as the export documents.
pub(crate) unsafe fn answer_engine_json(
    engine: *const vxm_engine,
    out_json: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
    json: impl FnOnce(&Engine) -> Result<String, Error>,
) -> vxm_status {
    answer_json(out_json, out_error, || {
        let engine = arg_ref!(engine);
        Ok(json(&engine.inner)?)
    })
}
