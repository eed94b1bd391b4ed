//! A read-only look at a cache directory, for the `velox-cache` tool: what is there, in
//! the order a policy would evict it, and what is wrong with it. Nothing here writes or
//! takes a lock, so it is safe next to a running RoadRunner using the same directory.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::index::Entry;
use super::{content, evict, layout, open, survey, Metadata};
use crate::config::EvictionPolicy;
use crate::provenance::{self, EntryCheck};
use crate::request::CacheKey;

/// One committed entry as its metadata describes it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    pub key: String,
    pub size: u64,
    pub rr_version: String,
    pub os: String,
    pub arch: String,
    pub plugins: usize,
    pub created_at: i64,
    pub last_accessed: i64,
    pub access_count: u64,
    pub build_duration_ms: i64,
    /// Absent for an entry the seed wrote that no running cache has hashed yet.
    pub sha256: Option<String>,
}

/// Something in the directory that is not a committed entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// `temp_file`, `orphan_binary`, `orphan_metadata`, `corrupt`, `size_mismatch`,
    /// `unreadable`, `hash_mismatch` (content checks only).
    pub kind: &'static str,
    pub detail: String,
}

/// What a directory holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inspection {
    pub directory: PathBuf,
    /// Valid entries, in the order `policy` would evict them (first = next to go).
    pub entries: Vec<EntryInfo>,
    pub problems: Vec<Problem>,
}

impl Inspection {
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Lists `dir` without changing it. Temp files of a commit in progress (another process)
/// show up as `temp_file`: they are only leftovers if no RoadRunner is running. What is
/// an entry and what is a problem is decided by `survey`, exactly as recovery decides.
pub fn inspect(dir: &Path, policy: EvictionPolicy) -> io::Result<Inspection> {
    let survey = survey::survey(dir)?;
    let valid = survey
        .found
        .into_iter()
        .map(|f| {
            Arc::new(Entry::new(
                f.key.clone(),
                layout::bin_path(dir, &f.key),
                f.meta,
                0,
            ))
        })
        .collect();
    let problems = survey
        .problems
        .into_iter()
        .map(|p| Problem {
            file: p.file,
            kind: p.kind.as_str(),
            detail: p.detail,
        })
        .collect();
    let entries = evict::eviction_order(policy, valid)
        .iter()
        .map(|e| info(e))
        .collect();
    Ok(Inspection {
        directory: dir.to_path_buf(),
        entries,
        problems,
    })
}

fn info(e: &Entry) -> EntryInfo {
    let m = e
        .meta
        .as_ref()
        .expect("inspect builds its entries from their metadata");
    EntryInfo {
        key: e.key.to_string(),
        size: e.size,
        rr_version: m.rr_version.clone(),
        os: m.platform.os.clone(),
        arch: m.platform.arch.clone(),
        plugins: m.plugins.len(),
        created_at: m.created_at,
        last_accessed: m.last_accessed,
        access_count: m.access_count,
        build_duration_ms: m.build_duration_ms,
        sha256: m.sha256.clone(),
    }
}

/// Reads a binary to its end, without following a link, and compares what it holds
/// with the recorded size and, when the metadata records one, the SHA-256. An entry the
/// seed wrote has no hash yet: then only the size can be proved. `Ok(None)` = fine; the
/// entry may have been evicted meanwhile (`NotFound` is not a problem then).
pub fn check_content(dir: &Path, entry: &EntryInfo) -> Option<Problem> {
    let key = CacheKey::parse(&entry.key)?;
    let path = layout::bin_path(dir, &key);
    let problem = |kind, detail: String| Problem {
        file: layout::bin_name(&key),
        kind,
        detail,
    };
    let file = match open::open_regular(&path) {
        Ok((f, _)) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) if open::is_not_regular(&e) => {
            return Some(problem(
                "corrupt",
                "a symbolic link or not a regular file".into(),
            ))
        }
        Err(e) => return Some(problem("unreadable", e.to_string())),
    };
    let (sha256, read) = match content::hash_file(&file) {
        Ok(done) => done,
        Err(e) => return Some(problem("unreadable", e.to_string())),
    };
    if read != entry.size {
        return Some(problem(
            "size_mismatch",
            format!("metadata records {} bytes, reading gave {read}", entry.size),
        ));
    }
    match &entry.sha256 {
        Some(recorded) if *recorded != sha256 => Some(problem(
            "hash_mismatch",
            format!("metadata records sha256 {recorded}, the binary hashes to {sha256}"),
        )),
        _ => None,
    }
}

/// `key`'s metadata as the entry's `{key}.json` holds it (provenance included), read
/// without following a link. `Ok(None)`: no such entry.
pub fn metadata(dir: &Path, key: &CacheKey) -> io::Result<Option<Metadata>> {
    match Metadata::load(dir, key) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
}

/// Verifies `key`'s binary against the request its metadata describes (see
/// [`provenance::check_entry`]), reading only its headers and build information.
/// `Ok(None)`: the entry is gone, or its binary is not the size its metadata records
/// (what `verify` reports as a size mismatch).
pub fn check_provenance(
    dir: &Path,
    key: &CacheKey,
    meta: &Metadata,
) -> io::Result<Option<EntryCheck>> {
    let Some(file) = open::binary(&layout::bin_path(dir, key), meta.file_size)? else {
        return Ok(None);
    };
    provenance::check_entry(&file, meta, key).map(Some)
}
