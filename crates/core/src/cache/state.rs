//! "Is it cached, is it building?" for a cache directory and a key, without opening the
//! cache: two small file reads and an open, no directory listing, no thread. For hosts
//! that only ask (a PHP page showing "ready" or "building…"), through
//! `vxm_cache_state_json`. Every file is opened as the cache opens it (`open`): a link or
//! a FIFO is never followed or waited for, and "cached" is decided by the function
//! lookup uses, so the two cannot disagree.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

use super::layout;
use super::lease;
use super::meta::Metadata;
use super::open;
use crate::error::{Error, Result};
use crate::request::CacheKey;

/// The answer, serialised as `{"state": "cached" | "building" | "absent", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CacheState {
    /// A complete entry: metadata and a binary of the recorded size.
    Cached {
        key: String,
        size: u64,
        /// The SHA-256 the metadata records, when it records one.
        sha256: Option<String>,
    },
    /// A live build lease (see `lease`): some process on this host, or one sharing the
    /// directory from another host, is building it.
    Building {
        key: String,
        age_ms: u64,
        pid: u32,
        host: String,
    },
    /// Neither (a dead lease counts as absent: the next resolve takes it over).
    Absent { key: String },
}

/// The state of `key` in `dir`. An error only when the directory cannot be read at all;
/// damaged entries and leases read as absent.
pub fn query(dir: &Path, key: &CacheKey) -> Result<CacheState> {
    let io_err = |e| Error::io(format!("cache directory {}", dir.display()), e);
    let meta = fs::metadata(dir).map_err(io_err)?;
    if !meta.is_dir() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a directory",
        )));
    }
    let key_str = key.as_str().to_owned();
    if let Ok(meta) = Metadata::load(dir, key) {
        if let Ok(Some(_)) = open::binary(&layout::bin_path(dir, key), meta.file_size) {
            return Ok(CacheState::Cached {
                key: key_str,
                size: meta.file_size,
                sha256: recorded_sha256(&meta),
            });
        }
    }
    let now = lease::now_ms();
    match lease::read(dir, key) {
        Ok(Some(l)) if l.is_live(now) => Ok(CacheState::Building {
            key: key_str,
            age_ms: l.age_ms(now),
            pid: l.pid,
            host: l.host,
        }),
        _ => Ok(CacheState::Absent { key: key_str }),
    }
}

/// `"sha256"` in the metadata, if a writer recorded it (64 lowercase hex).
fn recorded_sha256(meta: &Metadata) -> Option<String> {
    let s = meta.sha256.as_deref()?;
    (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| s.to_owned())
}
