//! `vxm_engine`: one configured engine, shared by every host thread.

use super::error::vxm_error;
use super::status::vxm_status;
use super::{boundary, bytes, guard, need_out, put};
use velox_core::engine::Engine;

/// An engine: configuration, cache and Velox client. Thread-safe: every function taking
/// a `const vxm_engine *` may be called from many threads at once.
pub struct vxm_engine {
    pub(crate) inner: Engine,
}

/// Creates an engine from the JSON form of the `velox:` section of `.rr.yaml`
/// (`config_json`, `config_len` bytes of UTF-8, borrowed for the call).
///
/// Opens the cache directory (creating it) and loads its index, which may take a moment
/// on a large cache. On success `*out_engine` owns a new engine: free it with
/// `vxm_engine_free`. Unknown keys fail with `INVALID_CONFIG` naming the key.
///
/// Exactly one build path must be configured, else `INVALID_CONFIG`: `server_url` (a
/// Velox server) or `local_build_enabled: true` (builds on this host). With local builds
/// the call also runs `<go_binary> version` (blocking, at most 30 s) and fails with
/// `INVALID_CONFIG` naming `go_binary` when it does not succeed.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_new(
    config_json: *const u8,
    config_len: usize,
    out_engine: *mut *mut vxm_engine,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        // The library's log queue (see `vxm_log_next`) starts collecting from here.
        velox_core::logging::install();
        need_out(out_engine, "out_engine")?;
        // SAFETY: per this function's contract.
        let json = unsafe { bytes(config_json, config_len, "config_json") }?;
        let inner = Engine::new(json)?;
        // SAFETY: checked above.
        unsafe { put(out_engine, vxm_engine { inner }, "out_engine") }
    })
}

/// Frees an engine. Calls in flight on other threads end promptly with `SHUTTING_DOWN`;
/// this waits for them to leave, flushes the cache's access statistics and returns.
/// Artifacts already handed out stay valid. NULL is a no-op. Call it once, and call
/// nothing else on the engine once it has started.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_free(engine: *mut vxm_engine) {
    guard((), || {
        if engine.is_null() {
            return;
        }
        // SAFETY: a live engine from `vxm_engine_new`; shut down through a shared
        // reference first so that calls still inside it can leave.
        unsafe { (*engine).inner.shutdown() };
        // SAFETY: no call is inside any more; freed once.
        drop(unsafe { Box::from_raw(engine) });
    })
}
