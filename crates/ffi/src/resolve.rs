//! `vxm_resolve`: build request in, open binary out.

use super::args::{arg_bytes, arg_opt, arg_ref, need_out, put_out};
use super::artifact::vxm_artifact;
use super::boundary::boundary;
use super::cancel::vxm_cancel;
use super::engine::vxm_engine;
use super::error::vxm_error;
use super::status::vxm_status;

/// Resolves a worker's build request (`request_json`, the body the PHP worker sent,
/// borrowed for the call) to a binary: cache hit, else join an identical build already
/// in flight, else ask the Velox server (with retries), store it in the cache.
///
/// Blocks the calling thread until the binary is ready, the call fails, `build_timeout`
/// passes (`TIMEOUT`), `cancel` is triggered (`CANCELLED`, promptly) or the engine is
/// shut down (`SHUTTING_DOWN`, by `vxm_engine_shutdown` or `vxm_engine_free`). `cancel` may be NULL. Thread-safe. On success `*out_artifact`
/// owns a new artifact: free it with `vxm_artifact_free`.
#[no_mangle]
pub unsafe extern "C" fn vxm_resolve(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    cancel: *const vxm_cancel,
    out_artifact: *mut *mut vxm_artifact,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_artifact, "out_artifact")?;
        let engine = arg_ref!(engine);
        let json = arg_bytes!(request_json, request_len);
        let cancel = arg_opt!(cancel).map(|c| &c.inner);
        let artifact = engine.inner.resolve(json, cancel)?;
        put_out!(out_artifact, vxm_artifact::new(artifact))
    })
}
