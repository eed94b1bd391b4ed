//! Log records for the host to drain: `tracing` events as JSON lines, pulled rather than
//! pushed so that no callback is needed (see [`velox_core::logging`]).

use std::ffi::{c_char, CStr};
use std::time::Duration;

use super::args::need_out;
use super::boundary::{boundary, guard};
use super::error::vxm_error;
use super::failure::Failure;
use super::status::vxm_status;
use super::strings::put_string;
use velox_core::error::Error;
use velox_core::logging;

/// Sets the library's log level, process-wide: one of `"error"`, `"warn"`, `"info"`
/// (the default), `"debug"`, `"trace"` or `"off"` (NUL-terminated, any case, borrowed
/// for the call). Records above the level are not produced at all; events of other
/// crates (hyper, h2, rustls) are kept only from `warn` up unless the level is `trace`.
/// An engine created
/// with the `log_level` configuration key sets it too; the last call wins.
///
/// `INVALID_CONFIG` for any other name, `NULL_ARGUMENT` for NULL. Thread-safe; does not
/// block.
#[no_mangle]
pub unsafe extern "C" fn vxm_log_set_level(
    level: *const c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        logging::install();
        if level.is_null() {
            return Err(Failure::NullArgument("level"));
        }
        // SAFETY: non-NULL, and the caller passes a NUL-terminated string valid for the call.
        let name = unsafe { CStr::from_ptr(level) }
            .to_str()
            .map_err(|_| Error::config("log_level", "is not valid UTF-8"))?;
        Ok(logging::set_level(name)?)
    })
}

/// Takes the oldest log record, waiting up to `timeout_ms` milliseconds for one
/// (0 = do not wait).
///
/// A record is one JSON object on one line, without a trailing newline:
/// `{"level":"info","target":"velox_middleware::cache","message":"...","fields":{...}}`
/// where `level` is `error`, `warn`, `info`, `debug` or `trace`, `fields` holds the
/// event's structured fields (strings, numbers, booleans; long strings are cut at 8 KiB),
/// and `"dropped": N` is present when N older records were discarded because the queue
/// (4096 records or 4 MiB) was full since the previous record was taken.
///
/// `OK`: `*out_record` owns the record; free it with `vxm_string_free`.
/// `NOT_FOUND`: no record came within `timeout_ms`, or `vxm_log_wake` was called;
/// `*out_record` is set to NULL and no error object is made.
///
/// Blocks the calling thread: call it from a thread (goroutine) dedicated to logging.
/// Thread-safe; records are handed out once each, oldest first. Needs no engine: the
/// queue is process-wide and fills as soon as any `vxm_` function has set it up.
#[no_mangle]
pub unsafe extern "C" fn vxm_log_next(
    timeout_ms: u32,
    out_record: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_record, "out_record")?;
        // SAFETY: checked non-NULL above; writable per this function's contract.
        unsafe { *out_record = std::ptr::null_mut() };
        logging::install();
        match logging::global().next(Duration::from_millis(u64::from(timeout_ms))) {
            Some(record) => {
                put_string(out_record, &record);
                Ok(())
            }
            None => Err(Error::NotFound.into()),
        }
    })
}

/// Makes every `vxm_log_next` blocked at this moment return `NOT_FOUND` promptly; when
/// none is blocked, the next call that would have to wait returns `NOT_FOUND` at once
/// instead, so a wake racing with the start of a read is not lost. For shutting a log
/// reader down. Thread-safe; does not block.
#[no_mangle]
pub extern "C" fn vxm_log_wake() {
    guard(|| logging::global().wake())
}

/// How many log records have been discarded, since the process started, because the
/// queue was full (nobody was reading fast enough). Thread-safe; does not block.
#[no_mangle]
pub extern "C" fn vxm_log_dropped() -> u64 {
    guard(|| logging::global().dropped())
}
