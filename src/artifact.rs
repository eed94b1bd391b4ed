//! `vxm_artifact`: a resolved binary, open for reading.

use std::ffi::{c_char, CString};
use std::os::fd::AsRawFd;

use super::args::{arg_bytes, arg_ref, need_out, put_out};
use super::boundary::{boundary, free_box, with_ref, with_ref_or};
use super::engine::vxm_engine;
use super::error::{cstring_lossy, vxm_error};
use super::failure::Failure;
use super::status::vxm_status;
use velox_core::artifact::{Artifact, Source};
use velox_core::engine::Engine;

/// A binary ready to stream. While it is alive its bytes stay readable through its fd,
/// whatever eviction or another store does to the cache directory. Accessors are
/// thread-safe and never block. Free with `vxm_artifact_free`.
pub struct vxm_artifact {
    inner: Artifact,
    path: CString,
    key: CString,
    sha256: CString,
}

impl vxm_artifact {
    pub(crate) fn new(inner: Artifact) -> vxm_artifact {
        let path = cstring_lossy(&inner.path.to_string_lossy());
        let key = cstring_lossy(inner.key.as_str());
        let sha256 = cstring_lossy(&inner.sha256);
        vxm_artifact {
            inner,
            path,
            key,
            sha256,
        }
    }
}

/// The body of an export that asks `engine` for an artifact for a build request: checks
/// `out_artifact` first (so a binary is never opened and then lost), then `engine` and
/// the request, runs `call` inside the panic [`boundary`] and hands its artifact to the
/// caller (free with `vxm_artifact_free`).
///
/// # Safety
/// `engine` is NULL or a live handle from `vxm_engine_new`, `request_json` NULL or
/// `request_len` readable bytes, as the export documents.
pub(crate) unsafe fn answer_artifact<E: Into<Failure>>(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    out_artifact: *mut *mut vxm_artifact,
    out_error: *mut *mut vxm_error,
    call: impl FnOnce(&Engine, &[u8]) -> Result<Artifact, E>,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_artifact, "out_artifact")?;
        let engine = arg_ref!(engine);
        let json = arg_bytes!(request_json, request_len);
        put_out!(
            out_artifact,
            vxm_artifact::new(call(&engine.inner, json).map_err(Into::into)?)
        )
    })
}

/// Where an artifact came from: the values `vxm_artifact_source` returns. Values never
/// change meaning; new ones may be added.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum vxm_artifact_source_kind {
    /// Served from the disk cache.
    Hit = 0,
    /// Built for this call.
    Built = 1,
    /// Joined an identical build already in flight.
    Joined = 2,
    /// Filled from the shared remote tier on a local miss.
    Remote = 3,
}

impl From<Source> for vxm_artifact_source_kind {
    fn from(source: Source) -> Self {
        match source {
            Source::CacheHit => vxm_artifact_source_kind::Hit,
            Source::Built => vxm_artifact_source_kind::Built,
            Source::Joined => vxm_artifact_source_kind::Joined,
            Source::Remote => vxm_artifact_source_kind::Remote,
        }
    }
}

/// The open, read-only file descriptor, positioned nowhere in particular (use pread or
/// your own offsets). Owned by `a`: `dup()` it to keep it beyond `vxm_artifact_free`.
/// -1 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_fd(a: *const vxm_artifact) -> i32 {
    // SAFETY: NULL or a live artifact.
    unsafe { with_ref(a, |a| a.inner.file.as_raw_fd()) }
}

/// Where the binary lies in the cache (or the build directory when the cache is
/// disabled). Informational: the path may be evicted at any time, the fd stays valid.
/// Owned by `a`. Empty for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_path(a: *const vxm_artifact) -> *const c_char {
    // SAFETY: NULL or a live artifact.
    unsafe { with_ref(a, |a| a.path.as_ptr()) }
}

/// The size in bytes. 0 for NULL. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_size(a: *const vxm_artifact) -> u64 {
    // SAFETY: NULL or a live artifact.
    unsafe { with_ref(a, |a| a.inner.size) }
}

/// The cache key: 64 lowercase hex characters, owned by `a`. Empty for NULL.
/// Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_key(a: *const vxm_artifact) -> *const c_char {
    // SAFETY: NULL or a live artifact.
    unsafe { with_ref(a, |a| a.key.as_ptr()) }
}

/// The SHA-256 of the artifact's bytes: 64 lowercase hex characters, owned by `a` and
/// valid until `vxm_artifact_free`. Computed when the binary was taken into the cache
/// (from the very bytes the cache holds), once for an entry the seed plugin wrote
/// without one, or, for a build served without the cache, from the build output as it
/// was taken. Hosts derive their ETag from it: unlike the key, it changes when a
/// rebuild (`force_rebuild`) gives the same key other bytes. Empty for NULL, and in the
/// rare case that a build served without the cache could not be read back for hashing.
/// Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_sha256(a: *const vxm_artifact) -> *const c_char {
    // SAFETY: NULL or a live artifact.
    unsafe { with_ref(a, |a| a.sha256.as_ptr()) }
}

/// Where the binary came from: a `vxm_artifact_source_kind` value as a `uint32_t`
/// (0 = cache hit, 1 = built now, 2 = joined a build in flight, 3 = filled from the
/// shared remote tier, `cache.remote`, on a local miss). `UINT32_MAX` for NULL.
/// Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_source(a: *const vxm_artifact) -> u32 {
    // SAFETY: NULL or a live artifact.
    unsafe {
        with_ref_or(a, u32::MAX, |a| {
            vxm_artifact_source_kind::from(a.inner.source) as u32
        })
    }
}

/// Frees the artifact and closes its fd. NULL is a no-op. Not to be called twice, nor
/// while another thread reads it.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_free(a: *mut vxm_artifact) {
    // SAFETY: NULL or made by this library, freed once.
    unsafe { free_box(a) }
}
