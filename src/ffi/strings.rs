//! Strings the library hands out, and the library version.

use std::ffi::{c_char, CString};

use super::guard;

/// The library version ("0.1.0"), static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn vxm_version() -> *const c_char {
    crate::VERSION.as_ptr().cast()
}

/// Frees a string returned by this library (`vxm_request_key`, `vxm_stats_json`, ...).
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn vxm_string_free(s: *mut c_char) {
    guard((), || {
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
