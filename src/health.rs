//! `vxm_engine_health_json`: what a host's health and readiness checks answer.

use std::ffi::c_char;

use super::engine::vxm_engine;
use super::error::vxm_error;
use super::status::vxm_status;
use super::strings::answer_engine_json;

/// Writes the engine's health to `*out_json` (free with `vxm_string_free`), a JSON object:
///
/// - `healthy` (bool): the engine can serve; false when the cache is enabled and its
///   directory is gone, not a directory or not writable (`cache_problem` says which,
///   naming the directory);
/// - `ready` (bool): a build path is configured and the engine is not stopping;
/// - `stopping` (bool): `vxm_engine_drain` was called (the host is stopping);
/// - `build_path` (string): `velox` (a Velox server) or `local` (the local builder);
/// - `cache_enabled` (bool), `cache_problem` (string or null).
///
/// With the cache enabled this creates, writes and removes a small temporary file in the
/// cache directory (named like the cache's own temporary files), so it blocks for that
/// I/O. Thread-safe. Not to be called once `vxm_engine_free` has begun.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_health_json(
    engine: *const vxm_engine,
    out_json: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    // SAFETY: per this function's contract.
    unsafe { answer_engine_json(engine, out_json, out_error, |e| Ok(e.health().to_json())) }
}
