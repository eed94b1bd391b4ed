//! `vxm_engine_drain`: the graceful part of a host's shutdown, before `vxm_engine_free`.

use super::args::arg_ref;
use super::boundary::boundary;
use super::engine::vxm_engine;
use super::error::vxm_error;
use super::status::vxm_status;

/// Call before `vxm_engine_free` when the host stops with some graceful time left.
///
/// With `keep_abandoned_builds: true` in the configuration, blocks until the builds in
/// flight have finished into the cache or `timeout_ms` has passed; without it, returns
/// at once (`vxm_engine_free` then cancels the builds and their upstream calls). Writes
/// the number of builds still in flight to `*out_in_flight` when it is not NULL.
/// Thread-safe; other calls keep working meanwhile.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_drain(
    engine: *const vxm_engine,
    timeout_ms: u64,
    out_in_flight: *mut u64,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        let engine = arg_ref!(engine);
        let left = engine
            .inner
            .drain(std::time::Duration::from_millis(timeout_ms));
        if !out_in_flight.is_null() {
            // SAFETY: non-NULL and writable per this function's contract.
            unsafe { *out_in_flight = left as u64 };
        }
        Ok(())
    })
}
