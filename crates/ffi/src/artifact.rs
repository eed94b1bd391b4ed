//! `vxm_artifact`: a resolved binary, open for reading.

use std::ffi::{c_char, CString};
use std::os::fd::AsRawFd;

use super::boundary::{free_box, with_ref, with_ref_or};
use super::error::cstring_lossy;
use velox_core::artifact::{Artifact, Source};

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
