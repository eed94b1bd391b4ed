//! `vxm_engine`: one configured engine, shared by every host thread.

use std::sync::Once;

use super::args::{arg_bytes, need_out, put_out};
use super::boundary::{boundary, guard, with_ref};
use super::error::vxm_error;
use super::status::vxm_status;
use velox_core::engine::Engine;

/// An engine: configuration, cache and Velox client. Thread-safe: every function taking
/// a `const vxm_engine *` may be called from many threads at once.
pub struct vxm_engine {
    pub(crate) inner: Engine,
    /// The engine's shutdown runs once, whether `vxm_engine_shutdown`, `vxm_engine_free`
    /// or both ask for it; a second caller waits for the first to finish.
    shutdown: Once,
}

impl vxm_engine {
    fn shutdown(&self) {
        self.shutdown.call_once(|| self.inner.shutdown());
    }
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
/// `INVALID_CONFIG` naming `go_binary` when it does not succeed. Thread-safe.
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
        let json = arg_bytes!(config_json, config_len);
        let inner = Engine::new(json)?;
        put_out!(
            out_engine,
            vxm_engine {
                inner,
                shutdown: Once::new(),
            }
        )
    })
}

/// Stops the engine without freeing it: from now on its calls fail with
/// `SHUTTING_DOWN`, and those in flight on other threads end promptly with
/// `SHUTTING_DOWN` (their builds are cancelled). Blocks until they have left the engine,
/// then flushes the cache's access statistics. Artifacts already handed out stay valid.
///
/// For a host that must stop the calls in flight before it can free the engine (it
/// waits for its own threads in between). Call `vxm_engine_free` after it. Idempotent
/// (a second call waits for the first to finish); NULL is a no-op. Thread-safe: may be
/// called while other threads are inside the engine, but not once `vxm_engine_free` has
/// begun.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_shutdown(engine: *const vxm_engine) {
    // SAFETY: NULL or a live engine from `vxm_engine_new`, per this function's contract.
    unsafe { with_ref(engine, vxm_engine::shutdown) }
}

/// Frees an engine. Calls in flight on other threads end promptly with `SHUTTING_DOWN`;
/// this waits for them to leave, flushes the cache's access statistics (both as
/// `vxm_engine_shutdown`, unless it already ran) and returns. Artifacts already handed
/// out stay valid. NULL is a no-op. Call it once, and call nothing else on the engine
/// once it has started.
#[no_mangle]
pub unsafe extern "C" fn vxm_engine_free(engine: *mut vxm_engine) {
    guard(|| {
        if engine.is_null() {
            return;
        }
        // SAFETY: a live engine from `vxm_engine_new`; shut down through a shared
        // reference first so that calls still inside it can leave.
        unsafe { (*engine).shutdown() };
        // SAFETY: no call is inside any more; freed once.
        drop(unsafe { Box::from_raw(engine) });
    })
}
