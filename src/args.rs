//! Arguments of fallible exports: each pointer is checked once, here, and a NULL one
//! becomes `NULL_ARGUMENT` naming the parameter. The `arg_*!` macros name the parameter
//! after the variable and carry the one SAFETY argument all exports share: the pointer is
//! what the export's documentation (the header) says it must be.

use std::ffi::{c_char, CStr};

use super::failure::Failure;
use velox_core::error::Error;

/// Borrows a `(ptr, len)` byte string. NULL is refused even with `len == 0`.
///
/// # Safety
/// `ptr` is NULL or points at `len` readable bytes that outlive the call.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::NullArgument(name));
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives the call.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, name: &'static str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::NullArgument(name));
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Error::request(name, "is not valid UTF-8").into())
}

/// Borrows the Rust value behind an opaque handle.
///
/// # Safety
/// `ptr` is NULL or a live handle made by this library and not yet freed.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: per this function's contract.
    unsafe { ptr.as_ref() }.ok_or(Failure::NullArgument(name))
}

/// Writes an owned handle to an output argument.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn put<T>(out: *mut *mut T, value: T, name: &'static str) -> Result<(), Failure> {
    need_out(out, name)?;
    // SAFETY: non-NULL, and writable per this function's contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
    Ok(())
}

/// Checks an output argument before any work is done, so that nothing is lost later.
pub(crate) fn need_out<T>(out: *mut *mut T, name: &'static str) -> Result<(), Failure> {
    if out.is_null() {
        Err(Failure::NullArgument(name))
    } else {
        Ok(())
    }
}

/// `arg_ref!(engine)`: the value behind a handle parameter, or `NULL_ARGUMENT`.
macro_rules! arg_ref {
    ($p:ident) => {
        // SAFETY: the export's documentation requires NULL or a live handle.
        unsafe { $crate::args::handle($p, stringify!($p)) }?
    };
}

/// `arg_opt!(cancel)`: the value behind an optional handle parameter (NULL is `None`).
macro_rules! arg_opt {
    ($p:ident) => {
        // SAFETY: the export's documentation requires NULL or a live handle.
        unsafe { $p.as_ref() }
    };
}

/// `arg_bytes!(request_json, request_len)`: a borrowed byte string, or `NULL_ARGUMENT`.
macro_rules! arg_bytes {
    ($p:ident, $len:expr) => {
        // SAFETY: the export's documentation requires NULL or `len` readable bytes.
        unsafe { $crate::args::bytes($p, $len, stringify!($p)) }?
    };
}

/// `arg_str!(key)`: a borrowed NUL-terminated UTF-8 string, or an error.
macro_rules! arg_str {
    ($p:ident) => {
        // SAFETY: the export's documentation requires NULL or a NUL-terminated string.
        unsafe { $crate::args::c_str($p, stringify!($p)) }?
    };
}

/// `put_out!(out_artifact, value)`: hands an owned handle to the caller.
macro_rules! put_out {
    ($out:ident, $value:expr) => {
        // SAFETY: the export's documentation requires NULL or a writable pointer.
        unsafe { $crate::args::put($out, $value, stringify!($out)) }
    };
}

pub(crate) use {arg_bytes, arg_opt, arg_ref, arg_str, put_out};
