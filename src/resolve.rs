//! `vxm_resolve`: build request in, open binary out.

use super::args::arg_opt;
use super::artifact::{answer_artifact, vxm_artifact};
use super::cancel::vxm_cancel;
use super::engine::vxm_engine;
use super::error::vxm_error;
use super::status::vxm_status;
use velox_core::engine::Engine;

/// Resolves a worker's build request (`request_json`, the body the PHP worker sent,
/// borrowed for the call) to a binary: cache hit, else join an identical build already
/// in flight, else ask the Velox server (with retries), store it in the cache.
///
/// Blocks the calling thread until the binary is ready, the call fails, `build_timeout`
/// passes (`TIMEOUT`), `cancel` is triggered (`CANCELLED`, promptly) or the engine is
/// shut down (`SHUTTING_DOWN`, by `vxm_engine_shutdown` or `vxm_engine_free`). `cancel`
/// may be NULL. Thread-safe. On success `*out_artifact` owns a new artifact: free it with
/// `vxm_artifact_free`.
#[no_mangle]
pub unsafe extern "C" fn vxm_resolve(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    cancel: *const vxm_cancel,
    out_artifact: *mut *mut vxm_artifact,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    let resolve = |e: &Engine, json: &[u8]| e.resolve(json, arg_opt!(cancel).map(|c| &c.inner));
    // SAFETY: per this function's contract.
    unsafe {
        answer_artifact(
            engine,
            request_json,
            request_len,
            out_artifact,
            out_error,
            resolve,
        )
    }
}
