//! `vxm_resolve_or_pending` and `vxm_pending`: "still building, come back later".

use std::ffi::{c_char, CString};

use super::args::{arg_bytes, arg_opt, arg_ref, need_out, put_out};
use super::artifact::vxm_artifact;
use super::boundary::{boundary, free_box, with_ref};
use super::cancel::vxm_cancel;
use super::engine::vxm_engine;
use super::error::{cstring_lossy, vxm_error};
use super::status::vxm_status;
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
        let engine = arg_ref!(engine);
        let json = arg_bytes!(request_json, request_len);
        let prefer = if prefer.is_null() {
            &[][..]
        } else {
            arg_bytes!(prefer, prefer_len)
        };
        let prefer = String::from_utf8_lossy(prefer);
        let cancel = arg_opt!(cancel).map(|c| &c.inner);
        match engine.inner.resolve_or_pending(json, &prefer, cancel)? {
            Resolved::Ready(a) => put_out!(out_artifact, vxm_artifact::new(a)),
            Resolved::Pending(p) => put_out!(out_pending, vxm_pending::new(p)),
        }
    })
}

/// The HTTP status to answer: 202 (Accepted). 0 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_http_status(p: *const vxm_pending) -> u16 {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |_| ACCEPTED) }
}

/// Seconds the client should wait before asking again: the `Retry-After` header. An
/// estimate from recent build times for the same target, else a constant; at least 1.
/// 0 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_retry_after(p: *const vxm_pending) -> u32 {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |p| p.inner.retry_after_secs) }
}

/// Milliseconds since the build started (it may have started for another client).
/// 0 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_elapsed_ms(p: *const vxm_pending) -> u64 {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |p| p.inner.elapsed_ms) }
}

/// The response body, JSON:
/// `{"status":"building","key":"<64 hex>","elapsed_ms":<n>,"position":<n or null>}`,
/// where `position` is the build's place in the local builder's queue, or null when it
/// is not queued. Owned by `p`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_json(p: *const vxm_pending) -> *const c_char {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |p| p.json.as_ptr()) }
}

/// The cache key being built, 64 lowercase hex. Owned by `p`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_key(p: *const vxm_pending) -> *const c_char {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |p| p.key.as_ptr()) }
}

/// 1 when the client asked `Prefer: respond-async`: answer
/// `Preference-Applied: respond-async` (RFC 7240). 0 otherwise and for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_preference_applied(p: *const vxm_pending) -> u8 {
    // SAFETY: NULL or a live pending answer.
    unsafe { with_ref(p, |p| u8::from(p.inner.preference_applied)) }
}

/// Frees a pending answer. NULL is a no-op. Not to be called twice, nor while another
/// thread reads it.
#[no_mangle]
pub unsafe extern "C" fn vxm_pending_free(p: *mut vxm_pending) {
    // SAFETY: NULL or made by `Box::into_raw` in this library, freed once.
    unsafe { free_box(p) }
}
