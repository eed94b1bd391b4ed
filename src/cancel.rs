//! `vxm_cancel`: a token that cancels a blocking call from another thread.

use super::boundary::{free_box, guard, with_ref};
use velox_core::cancel::Cancel;

/// A cancellation token. Create it before the call that uses it, so that a cancel can
/// never be lost; trigger it from any thread; free it after the call has returned.
pub struct vxm_cancel {
    pub(crate) inner: Cancel,
}

/// A new, untriggered token. Free with `vxm_cancel_free`. Never returns NULL except
/// after an internal panic. Thread-safe; never blocks.
#[no_mangle]
pub extern "C" fn vxm_cancel_new() -> *mut vxm_cancel {
    guard(|| {
        Box::into_raw(Box::new(vxm_cancel {
            inner: Cancel::new(),
        }))
    })
}

/// Triggers the token: every call using it returns `CANCELLED` promptly. Thread-safe and
/// idempotent; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn vxm_cancel_trigger(c: *const vxm_cancel) {
    // SAFETY: NULL or a live token.
    unsafe { with_ref(c, |c| c.inner.trigger()) }
}

/// Frees a token. NULL is a no-op. Do not free it while a call still uses it.
#[no_mangle]
pub unsafe extern "C" fn vxm_cancel_free(c: *mut vxm_cancel) {
    // SAFETY: NULL or made by `vxm_cancel_new`, freed once.
    unsafe { free_box(c) }
}
