//! The disk cache: `{key}.bin` + `{key}.json` in one directory, the seed plugin's layout,
//! with an in-memory index so that a hit costs no disk I/O beyond the open.

use std::path::Path;
use std::sync::Arc;

use crate::artifact::Artifact;
use crate::config::CacheConfig;
use crate::error::Result;
use crate::request::{BuildRequest, CacheKey};
use crate::stats::Stats;

pub struct Cache {
    _private: (),
}

/// Current size of the cache, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub entries: u64,
    pub bytes: u64,
}

impl Cache {
    /// Opens (creating if needed) the directory, loads the index and cleans up leftovers.
    pub fn open(_cfg: &CacheConfig, _stats: Arc<Stats>) -> Result<Cache> {
        todo!("cache: open")
    }

    /// A hit returns an artifact with `Source::CacheHit`; a miss `Ok(None)`.
    pub fn lookup(&self, _key: &CacheKey) -> Result<Option<Artifact>> {
        todo!("cache: lookup")
    }

    /// Takes the file at `src` into the cache (hardlink, else copy) and returns it open,
    /// with `Source::Built`.
    pub fn store(
        &self,
        _req: &BuildRequest,
        _key: &CacheKey,
        _src: &Path,
        _build_duration_ms: u64,
    ) -> Result<Artifact> {
        todo!("cache: store")
    }

    /// `Ok(false)` when there was no such entry.
    pub fn remove(&self, _key: &CacheKey) -> Result<bool> {
        todo!("cache: remove")
    }

    /// Applies the age, size and count limits now.
    pub fn cleanup(&self) -> Result<()> {
        todo!("cache: cleanup")
    }

    /// Writes pending access statistics.
    pub fn flush(&self) -> Result<()> {
        todo!("cache: flush")
    }

    pub fn usage(&self) -> Usage {
        todo!("cache: usage")
    }

    /// Stops background work and flushes; later calls still work but nothing runs behind.
    pub fn close(&self) {
        todo!("cache: close")
    }
}
