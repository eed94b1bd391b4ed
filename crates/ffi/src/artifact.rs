//! `vxm_artifact`: a resolved binary, open for reading.

use std::ffi::{c_char, CString};
use std::os::fd::AsRawFd;

use super::error::cstring_lossy;
use super::guard;
use velox_core::artifact::Artifact;

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

/// The open, read-only file descriptor, positioned nowhere in particular (use pread or
/// your own offsets). Owned by `a`: `dup()` it to keep it beyond `vxm_artifact_free`.
/// -1 for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_fd(a: *const vxm_artifact) -> i32 {
    guard(-1, || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(-1, |a| a.inner.file.as_raw_fd())
    })
}

/// Where the binary lies in the cache (or the build directory when the cache is
/// disabled). Informational: the path may be evicted at any time, the fd stays valid.
/// Owned by `a`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_path(a: *const vxm_artifact) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(c"".as_ptr(), |a| a.path.as_ptr())
    })
}

/// The size in bytes. 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_size(a: *const vxm_artifact) -> u64 {
    guard(0, || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(0, |a| a.inner.size)
    })
}

/// The cache key: 64 lowercase hex characters, owned by `a`. Empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_key(a: *const vxm_artifact) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(c"".as_ptr(), |a| a.key.as_ptr())
    })
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
    guard(c"".as_ptr(), || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(c"".as_ptr(), |a| a.sha256.as_ptr())
    })
}

/// 0 = cache hit, 1 = built now, 2 = joined a build in flight, 3 = filled from the shared
/// remote tier (`cache.remote`) on a local miss. `UINT32_MAX` for NULL.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_source(a: *const vxm_artifact) -> u32 {
    guard(u32::MAX, || {
        // SAFETY: NULL or a live artifact.
        unsafe { a.as_ref() }.map_or(u32::MAX, |a| a.inner.source as u32)
    })
}

/// Frees the artifact and closes its fd. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn vxm_artifact_free(a: *mut vxm_artifact) {
    guard((), || {
        if !a.is_null() {
            // SAFETY: made by this library, freed once.
            drop(unsafe { Box::from_raw(a) });
        }
    })
}
