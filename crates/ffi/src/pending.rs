//! `vxm_resolve_or_pending` and `vxm_pending`: "still building, come back later".

use std::ffi::{c_char, CString};

use super::artifact::vxm_artifact;
use super::cancel::vxm_cancel;
use super::engine::vxm_engine;
use super::error::{cstring_lossy, vxm_error};
use super::status::vxm_status;
use super::{boundary, bytes, guard, handle, need_out, put};
use velox_core::resolve::respond::{Pending, Resolved, ACCEPTED};

/// A build still running when its request had to be answered: everything an HTTP host
/// needs for a `202 Accepted` answer. Accessors are thread-safe and never block. Free
/// with `vxm_pending_free`.
pub struct vxm_pending {
    inner: Pending,
    key: CString,
    json: CString,
}

impl vxm_pending {
    fn new(inner: Pending) -> vxm_pending {
        let key = cstring_lossy(inner.key.as_str());
        let json = cstring_lossy(&inner.json());
        vxm_pending { inner, key, json }
    }
}

/// As `vxm_resolve`, but a request may be answered before its build ends: when the
/// configuration's `respond_after` passes, or the client's `Prefer` header asks for
/// `respond-async` (RFC 7240, with an optional `wait=N` in seconds), and the build is
/// still running, the call returns OK with `*out_pending` set; the build goes on into the
/// cache and the same request later gets the binary, another pending answer, or the
/// build's error (a failure is remembered for a short time, so a polling client does not
/// restart a failing build in a tight loop).
///
/// `prefer` is the request's `Prefer` header values joined with commas, UTF-8, borrowed
/// for the call; it may be NULL (with `prefer_len` 0) when there is none. Bytes that are
/// not UTF-8 are replaced, and preferences this library does not know are ignored.
///
/// On OK exactly one of `*out_artifact` (free with `vxm_artifact_free`) and
/// `*out_pending` (free with `vxm_pending_free`) is set, the other is set to NULL. Blocks
/// like `vxm_resolve`, at most until the answer is due. Thread-safe.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn vxm_resolve_or_pending(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    prefer: *const u8,
    prefer_len: usize,
    cancel: *const vxm_cancel,
    out_artifact: *mut *mut vxm_artifact,
    out_pending: *mut *mut vxm_pending,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_artifact, "out_artifact")?;
        need_out(out_pending, "out_pending")?;
        // SAFETY: both checked non-NULL and writable per this function's contract.
        unsafe {
            *out_artifact = std::ptr::null_mut();
            *out_pending = std::ptr::null_mut();
        }
        // SAFETY: per this function's contract.
        let engine = unsafe { handle(engine, "engine") }?;
        // SAFETY: per this function's contract.
        let json = unsafe { bytes(request_json, request_len, "request_json") }?;
        let prefer = if prefer.is_null() {
            &[][..]
        } else {
            // SAFETY: per this function's contract.
            unsafe { bytes(prefer, prefer_len, "prefer") }?
        };
        let prefer = String::from_utf8_lossy(prefer);
        // SAFETY: NULL or a live token.
        let cancel = unsafe { cancel.as_ref() }.map(|c| &c.inner);
        match engine.inner.resolve_or_pending(json, &prefer, cancel)? {
            // SAFETY: checked above.
            Resolved::Ready(a) => unsafe {
                put(out_artifact, vxm_artifact::new(a), "out_artifact")
            },
            // SAFETY: checked above.
            Resolved::Pending(p) => unsafe { put(out_pending, vxm_pending::new(p), "out_pending") },
        }
    })
}

/// The HTTP status to answer: 202 (Accepted). 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_http_status(p: *const vxm_pending) -> u16 {
    // SAFETY: NULL or a live pending answer.
    guard(0, || unsafe { p.as_ref() }.map_or(0, |_| ACCEPTED))
}

/// Seconds the client should wait before asking again: the `Retry-After` header. An
/// estimate from recent build times for the same target, else a constant; at least 1.
/// 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_retry_after(p: *const vxm_pending) -> u32 {
    // SAFETY: NULL or a live pending answer.
    guard(0, || {
        unsafe { p.as_ref() }.map_or(0, |p| p.inner.retry_after_secs)
    })
}

/// Milliseconds since the build started (it may have started for another client).
/// 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_elapsed_ms(p: *const vxm_pending) -> u64 {
    // SAFETY: NULL or a live pending answer.
    guard(0, || {
        unsafe { p.as_ref() }.map_or(0, |p| p.inner.elapsed_ms)
    })
}

/// The response body, JSON:
/// `{"status":"building","key":"<64 hex>","elapsed_ms":<n>,"position":<n or null>}`,
/// where `position` is the build's place in the local builder's queue, or null when it
/// is not queued. Owned by `p`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_json(p: *const vxm_pending) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: NULL or a live pending answer.
        unsafe { p.as_ref() }.map_or(c"".as_ptr(), |p| p.json.as_ptr())
    })
}

/// The cache key being built, 64 lowercase hex. Owned by `p`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_key(p: *const vxm_pending) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: NULL or a live pending answer.
        unsafe { p.as_ref() }.map_or(c"".as_ptr(), |p| p.key.as_ptr())
    })
}

/// 1 when the client asked `Prefer: respond-async`: answer
/// `Preference-Applied: respond-async` (RFC 7240). 0 otherwise and for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_preference_applied(p: *const vxm_pending) -> u8 {
    guard(0, || {
        // SAFETY: NULL or a live pending answer.
        unsafe { p.as_ref() }.map_or(0, |p| u8::from(p.inner.preference_applied))
    })
}

/// Frees a pending answer. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_free(p: *mut vxm_pending) {
    guard((), || {
        if !p.is_null() {
            // SAFETY: made by `Box::into_raw` in this library, freed once.
            drop(unsafe { Box::from_raw(p) });
        }
    })
}
