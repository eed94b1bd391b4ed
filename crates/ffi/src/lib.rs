//! The C ABI: a thin skin over [`velox_core::engine::Engine`]. Each file is one concept of
//! `include/velox_middleware.h`. Nothing here decides anything; it converts pointers,
//! catches panics and maps errors to `vxm_status` (in `status.rs`, once).
//!
//! Every export runs inside [`boundary`] or [`guard`], so a Rust panic becomes
//! `VXM_STATUS_PANIC` (or a harmless default) and never unwinds into the host.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod artifact;
pub mod cache;
pub mod cancel;
pub mod drain;
pub mod engine;
pub mod error;
pub mod health;
pub mod log;
pub mod pending;
pub mod resolve;
pub mod status;
pub mod strings;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use error::vxm_error;
use status::vxm_status;
use velox_core::error::Error;

/// Runs a fallible export: a panic or an `Err` becomes a status, and (unless the status
/// is OK or NOT_FOUND) an error object written to `out_error` when it is not NULL.
pub(crate) fn boundary(
    out_error: *mut *mut vxm_error,
    body: impl FnOnce() -> Result<(), Error>,
) -> vxm_status {
    let result = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|panic| Err(Error::Panic(panic_message(panic.as_ref()))));
    match result {
        Ok(()) => vxm_status::Ok,
        Err(Error::NotFound) => vxm_status::NotFound,
        Err(err) => {
            let status = vxm_status::from_error(&err);
            if !out_error.is_null() {
                // SAFETY: the caller passed a writable `vxm_error **` (documented on each export).
                unsafe { *out_error = vxm_error::boxed(status, &err) };
            }
            status
        }
    }
}

/// Runs an infallible export (accessors, `_free`): a panic yields `fallback`.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Borrows a `(ptr, len)` byte string. NULL is refused even with `len == 0`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return Err(Error::NullArgument(name));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr` for the call's duration.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a NUL-terminated UTF-8 string.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, name: &'static str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::NullArgument(name));
    }
    // SAFETY: the caller guarantees a NUL-terminated string valid for the call's duration.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Error::request(name, "is not valid UTF-8"))
}

/// Borrows the Rust value behind an opaque handle.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, Error> {
    // SAFETY: a non-NULL handle was made by this library's `_new` and not yet freed.
    unsafe { ptr.as_ref() }.ok_or(Error::NullArgument(name))
}

/// Writes an owned handle to an output argument.
pub(crate) unsafe fn put<T>(out: *mut *mut T, value: T, name: &'static str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::NullArgument(name));
    }
    // SAFETY: `out` is non-NULL and writable per the export's contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
    Ok(())
}

/// Checks an output argument before any work is done, so that nothing is lost later.
pub(crate) fn need_out<T>(out: *mut *mut T, name: &'static str) -> Result<(), Error> {
    if out.is_null() {
        Err(Error::NullArgument(name))
    } else {
        Ok(())
    }
}
