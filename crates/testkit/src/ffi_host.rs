//! A C host, written in Rust: an engine made through `vxm_engine_new` in a temp
//! directory, and `vxm_resolve` called from plain threads the way a host's request
//! threads call it. Shared by the ABI tests that need a fake Velox server.

use std::ffi::CStr;
use std::path::PathBuf;
use std::ptr;
use std::time::{Duration, Instant};

use crate::fake_velox::FakeVelox;
use velox_middleware::artifact::vxm_artifact;
use velox_middleware::cache::vxm_stats_json;
use velox_middleware::cancel::vxm_cancel;
use velox_middleware::engine::{vxm_engine, vxm_engine_new};
use velox_middleware::error::{vxm_error, vxm_error_message};
use velox_middleware::resolve::vxm_resolve;
use velox_middleware::status::vxm_status;
use velox_middleware::strings::vxm_string_free;

pub const REQUEST: &str = r#"{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"},"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.0"}]}"#;

/// The Go executable a build of [`REQUEST`] answers, ending with `payload`: what
/// [`World::go_binary`] writes.
pub fn exe(payload: &[u8]) -> Vec<u8> {
    let req = velox_core::BuildRequest::parse(REQUEST.as_bytes()).expect("REQUEST is valid");
    crate::go_exe::build_for(&req, payload)
}

/// Raw pointers cross to the calling thread as a host would pass them.
pub struct Ptr<T>(pub *mut T);
unsafe impl<T> Send for Ptr<T> {}
impl<T> Clone for Ptr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Ptr<T> {}

/// The engine's counters, as `vxm_stats_json` gives them to a host.
pub fn stats(engine: Ptr<vxm_engine>) -> serde_json::Value {
    let mut json = ptr::null_mut();
    let status = unsafe { vxm_stats_json(engine.0, &mut json, ptr::null_mut()) };
    assert_eq!(status, vxm_status::Ok);
    let parsed = serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy()).unwrap();
    unsafe { vxm_string_free(json) };
    parsed
}

/// A temp directory holding the build output directory (the allowed one) and the cache.
pub struct World {
    _tmp: tempfile::TempDir,
    pub builds: PathBuf,
    pub cache_dir: PathBuf,
}

impl World {
    pub fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let builds = root.join("builds");
        std::fs::create_dir_all(&builds).unwrap();
        World {
            cache_dir: root.join("cache"),
            builds,
            _tmp: tmp,
        }
    }

    /// Writes a build output the fake server can name; returns its path.
    pub fn binary(&self, bytes: &[u8]) -> String {
        let path = self.builds.join("h").join("rr");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// [`World::binary`] of [`exe`]`(payload)`: a build of [`REQUEST`] as a Velox
    /// server answers it.
    pub fn go_binary(&self, payload: &[u8]) -> String {
        self.binary(&exe(payload))
    }

    /// An engine for `url` with `settings` (timeouts, retry, ...) plus this world's
    /// cache and allowed build directory.
    pub fn engine(&self, url: &str, settings: serde_json::Value) -> Ptr<vxm_engine> {
        let mut config = settings;
        config["server_url"] = url.into();
        config["cache"] = serde_json::json!({"enabled": true, "directory": self.cache_dir});
        config["allowed_build_dirs"] = serde_json::json!([self.builds]);
        let config = config.to_string();
        let mut engine = ptr::null_mut();
        let mut err = ptr::null_mut();
        let status =
            unsafe { vxm_engine_new(config.as_ptr(), config.len(), &mut engine, &mut err) };
        assert_eq!(status, vxm_status::Ok, "{}", unsafe { message(err) });
        Ptr(engine)
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// The message of a library error, or "" for NULL.
///
/// # Safety
/// `err` is NULL or a live `vxm_error` made by the library.
pub unsafe fn message(err: *const vxm_error) -> String {
    if err.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(vxm_error_message(err)) }
        .to_string_lossy()
        .into_owned()
}

/// What `vxm_resolve` gave back; the caller frees the artifact and the error.
pub struct Resolved {
    pub status: vxm_status,
    pub artifact: Ptr<vxm_artifact>,
    pub error: Ptr<vxm_error>,
    pub returned: Instant,
}

/// Calls `vxm_resolve` for [`REQUEST`] on a new thread, as a host's request thread would.
pub fn resolve_on_thread(
    engine: Ptr<vxm_engine>,
    cancel: Option<Ptr<vxm_cancel>>,
) -> tokio::sync::oneshot::Receiver<Resolved> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (engine, cancel) = (engine, cancel);
        let mut artifact = ptr::null_mut();
        let mut error = ptr::null_mut();
        let status = unsafe {
            vxm_resolve(
                engine.0,
                REQUEST.as_ptr(),
                REQUEST.len(),
                cancel.map_or(ptr::null(), |c| c.0),
                &mut artifact,
                &mut error,
            )
        };
        let _ = tx.send(Resolved {
            status,
            artifact: Ptr(artifact),
            error: Ptr(error),
            returned: Instant::now(),
        });
    });
    rx
}

/// [`resolve_on_thread`], returning once `fake` has the build call: from then on the call
/// waits on that build (for good, with a fake that hangs).
pub async fn resolve_waiting_on(
    fake: &FakeVelox,
    engine: Ptr<vxm_engine>,
    cancel: Option<Ptr<vxm_cancel>>,
) -> tokio::sync::oneshot::Receiver<Resolved> {
    let pending = resolve_on_thread(engine, cancel);
    fake.wait_for(Duration::from_secs(5), "the build call", |c| c.len() == 1)
        .await;
    pending
}
