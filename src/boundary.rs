//! The panic boundary every export runs inside: a Rust panic never unwinds into the
//! host. Fallible exports answer a status (and an error object); infallible ones answer
//! their type's [`Fallback`] value.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::vxm_error;
use super::failure::Failure;
use super::status::vxm_status;
use velox_core::error::Error;

/// What an infallible export returns when its handle is NULL or it panicked. An export
/// whose documented value differs (`vxm_artifact_source`'s `UINT32_MAX`, ...) passes
/// its own to [`guard_or`] or [`with_ref_or`].
pub(crate) trait Fallback: Copy {
    const FALLBACK: Self;
}

impl Fallback for () {
    const FALLBACK: Self = ();
}

impl Fallback for u8 {
    const FALLBACK: Self = 0;
}

impl Fallback for u16 {
    const FALLBACK: Self = 0;
}

impl Fallback for u32 {
    const FALLBACK: Self = 0;
}

impl Fallback for u64 {
    const FALLBACK: Self = 0;
}

/// File descriptors: -1 is never a valid one.
impl Fallback for i32 {
    const FALLBACK: Self = -1;
}

/// Borrowed strings: an empty static string, so hosts never get NULL where the header
/// promises text.
impl Fallback for *const c_char {
    const FALLBACK: Self = c"".as_ptr();
}

impl<T> Fallback for *mut T {
    const FALLBACK: Self = std::ptr::null_mut();
}

/// Runs a fallible export: a panic or an `Err` becomes a status, and (unless the status
/// is OK or NOT_FOUND) an error object written to `out_error` when it is not NULL.
pub(crate) fn boundary(
    out_error: *mut *mut vxm_error,
    body: impl FnOnce() -> Result<(), Failure>,
) -> vxm_status {
    let result = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|panic| Err(Error::Panic(panic_message(panic.as_ref())).into()));
    match result {
        Ok(()) => vxm_status::Ok,
        Err(Failure::Engine(Error::NotFound)) => vxm_status::NotFound,
        Err(err) => {
            let status = vxm_status::from_failure(&err);
            if !out_error.is_null() {
                // SAFETY: the caller passed a writable `vxm_error **` (documented on each export).
                unsafe { *out_error = vxm_error::boxed(status, &err) };
            }
            status
        }
    }
}

/// Runs an infallible export: a panic yields `R`'s [`Fallback`].
pub(crate) fn guard<R: Fallback>(body: impl FnOnce() -> R) -> R {
    guard_or(R::FALLBACK, body)
}

/// [`guard`] with the value an export documents instead of its type's.
pub(crate) fn guard_or<R>(fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// An accessor: `read` the value behind a handle; NULL or a panic yields `R`'s
/// [`Fallback`].
///
/// # Safety
/// `ptr` is NULL or a live handle made by this library and not yet freed.
pub(crate) unsafe fn with_ref<T, R: Fallback>(ptr: *const T, read: impl FnOnce(&T) -> R) -> R {
    // SAFETY: forwarded contract.
    unsafe { with_ref_or(ptr, R::FALLBACK, read) }
}

/// [`with_ref`] with the value an export documents instead of its type's.
///
/// # Safety
/// As [`with_ref`].
pub(crate) unsafe fn with_ref_or<T, R: Copy>(
    ptr: *const T,
    fallback: R,
    read: impl FnOnce(&T) -> R,
) -> R {
    // SAFETY: per this function's contract.
    guard_or(fallback, || unsafe { ptr.as_ref() }.map_or(fallback, read))
}

/// A `_free` export: drops the box behind `ptr`. NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or was made by `Box::into_raw` in this library and is freed once.
pub(crate) unsafe fn free_box<T>(ptr: *mut T) {
    guard(|| {
        if !ptr.is_null() {
            // SAFETY: per this function's contract.
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::error::{vxm_error_code, vxm_error_free, vxm_error_http_status};

    #[test]
    fn a_panic_in_an_accessor_answers_its_types_fallback_or_the_documented_one() {
        assert_eq!(guard(|| -> i32 { panic!("fd") }), -1);
        assert_eq!(guard(|| -> u64 { panic!("size") }), 0);
        assert!(guard(|| -> *mut u8 { panic!("new") }).is_null());
        let text = guard(|| -> *const c_char { panic!("text") });
        assert_eq!(unsafe { CStr::from_ptr(text) }, c"");
        assert_eq!(guard_or(u32::MAX, || -> u32 { panic!("source") }), u32::MAX);
    }

    #[test]
    fn a_null_handle_answers_the_fallback_without_calling_the_accessor() {
        let read = unsafe { with_ref(std::ptr::null::<u64>(), |_| -> i32 { unreachable!() }) };
        assert_eq!(read, -1);
        let value = 7u64;
        assert_eq!(unsafe { with_ref(&value, |v| *v) }, 7);
    }

    #[test]
    fn a_panic_in_a_fallible_export_is_a_panic_status_with_an_error_object() {
        let mut err = std::ptr::null_mut();
        let status = boundary(&mut err, || panic!("a bug"));
        assert_eq!(status, vxm_status::Panic);
        unsafe {
            assert_eq!(vxm_error_http_status(err), 500);
            assert_eq!(CStr::from_ptr(vxm_error_code(err)), c"panic");
            vxm_error_free(err);
        }
    }
}
