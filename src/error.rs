//! `vxm_error`: what went wrong, for the caller to read and free.

use std::ffi::{c_char, CString};

use super::boundary::{free_box, with_ref, with_ref_or};
use super::failure::Failure;
use super::status::vxm_status;
use velox_core::error::Error;

/// Details of a failed call. Owned by the caller; free with `vxm_error_free`.
pub struct vxm_error {
    status: vxm_status,
    http_status: u16,
    code: CString,
    message: CString,
    retry_after_secs: u32,
}

impl vxm_error {
    pub(crate) fn boxed(status: vxm_status, err: &Failure) -> *mut vxm_error {
        let message = match err {
            Failure::Engine(Error::BuildFailed { logs, .. }) if !logs.is_empty() => {
                format!("{err}\n--- build log (tail) ---\n{logs}")
            }
            _ => err.to_string(),
        };
        Box::into_raw(Box::new(vxm_error {
            status,
            http_status: status.http_status(),
            code: cstring_lossy(status.code()),
            message: cstring_lossy(&message),
            retry_after_secs: match err {
                Failure::Engine(e) => e.retry_after_secs().unwrap_or(0),
                Failure::NullArgument(_) => 0,
            },
        }))
    }
}

/// Interior NULs would cut a C string short; they cannot occur in our messages except
/// through outside text, which is replaced.
pub(crate) fn cstring_lossy(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).expect("NULs were replaced")
}

/// The status this error was returned with; `NULL_ARGUMENT` for NULL. Thread-safe;
/// never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_status(err: *const vxm_error) -> vxm_status {
    // SAFETY: NULL or a live error from this library.
    unsafe { with_ref_or(err, vxm_status::NullArgument, |e| e.status) }
}

/// The error text (UTF-8, NUL-terminated), owned by `err` and valid until
/// `vxm_error_free(err)`. Names the configuration key or request field at fault where
/// there is one. Returns an empty string for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_message(err: *const vxm_error) -> *const c_char {
    // SAFETY: NULL or a live error from this library.
    unsafe { with_ref(err, |e| e.message.as_ptr()) }
}

/// A short stable machine-readable name of the error (`"invalid_request"`,
/// `"build_failed"`, ...), for JSON bodies and metrics: `vxm_status_code` of its
/// status. Owned by `err`. Empty for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_code(err: *const vxm_error) -> *const c_char {
    // SAFETY: NULL or a live error from this library.
    unsafe { with_ref(err, |e| e.code.as_ptr()) }
}

/// The HTTP status an HTTP host should answer for this error (400, 422, 502, 503,
/// 504, ...; 499 for a cancelled call, where nothing should be written): `vxm_status_http`
/// of its status. 500 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_http_status(err: *const vxm_error) -> u16 {
    // SAFETY: NULL or a live error from this library.
    unsafe { with_ref_or(err, 500, |e| e.http_status) }
}

/// When to ask again, in seconds, for an error that says so (`BUSY`): what an HTTP
/// host puts in `Retry-After`. 0 when the error says nothing (send no header); 0 for
/// NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_retry_after(err: *const vxm_error) -> u32 {
    // SAFETY: NULL or a live error from this library.
    unsafe { with_ref_or(err, 0, |e| e.retry_after_secs) }
}

/// Frees an error. NULL is a no-op. Not to be called twice, nor while another thread
/// reads it.
#[no_mangle]
pub unsafe extern "C" fn vxm_error_free(err: *mut vxm_error) {
    // SAFETY: NULL or made by `vxm_error::boxed`, freed once by the caller.
    unsafe { free_box(err) }
}
