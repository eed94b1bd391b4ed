//! A resolved binary handed to the host: an open file plus what the host needs to serve it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::request::CacheKey;

/// Where the bytes came from, as `vxm_artifact_source` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Source {
    CacheHit = 0,
    Built = 1,
    Joined = 2,
    /// Filled from the shared object-storage tier on a local miss (`crate::remote`).
    Remote = 3,
}

/// The open file keeps the bytes readable even when the cache entry is evicted or
/// replaced meanwhile: unlinking or renaming over a path never touches an open inode.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file: Arc<File>,
    pub path: PathBuf,
    pub size: u64,
    pub key: CacheKey,
    /// SHA-256 of the bytes behind `file`, 64 lowercase hex: what the host's ETag is made
    /// of (the key names the request, and `force_rebuild` gives one key other bytes).
    pub sha256: String,
    pub source: Source,
}

impl Artifact {
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}
