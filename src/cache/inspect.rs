//! A read-only look at a cache directory, for the `velox-cache` tool: what is there, in
//! the order a policy would evict it, and what is wrong with it. Nothing here writes or
//! takes a lock, so it is safe next to a running RoadRunner using the same directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::evict;
use super::index::Entry;
use super::layout::{self, FileKind};
use super::meta::Metadata;
use crate::config::EvictionPolicy;
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
}

/// Something in the directory that is not a committed entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// `temp_file`, `orphan_binary`, `orphan_metadata`, `corrupt`, `size_mismatch`,
    /// `unreadable`.
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
/// show up as `temp_file`: they are only leftovers if no RoadRunner is running.
pub fn inspect(dir: &Path, policy: EvictionPolicy) -> io::Result<Inspection> {
    let mut bins: BTreeMap<CacheKey, u64> = BTreeMap::new();
    let mut jsons: Vec<CacheKey> = Vec::new();
    let mut problems = Vec::new();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        match layout::classify(name) {
            FileKind::Temp => problems.push(Problem {
                file: name.to_owned(),
                kind: "temp_file",
                detail: "an unfinished write (a commit in progress, or a crash's leftover)".into(),
            }),
            FileKind::Binary(key) => match fs::symlink_metadata(dirent.path()) {
                Ok(m) if m.is_file() => {
                    bins.insert(key, m.len());
                }
                Ok(_) => problems.push(Problem {
                    file: name.to_owned(),
                    kind: "corrupt",
                    detail: "not a regular file".into(),
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => problems.push(Problem {
                    file: name.to_owned(),
                    kind: "unreadable",
                    detail: e.to_string(),
                }),
            },
            FileKind::Metadata(key) => jsons.push(key),
            FileKind::Other => {}
        }
    }

    let mut valid = Vec::new();
    for key in jsons {
        let json_name = format!("{key}.json");
        let meta = match Metadata::load(dir, &key) {
            Ok(meta) => meta,
            Err(e) if e.is_not_found() => continue, // removed while we listed
            Err(e) => {
                problems.push(Problem {
                    file: json_name,
                    kind: "corrupt",
                    detail: e.to_string(),
                });
                bins.remove(&key);
                continue;
            }
        };
        match bins.remove(&key) {
            None => problems.push(Problem {
                file: json_name,
                kind: "orphan_metadata",
                detail: "its binary is missing".into(),
            }),
            Some(size) if size != meta.file_size => problems.push(Problem {
                file: layout::bin_name(&key),
                kind: "size_mismatch",
                detail: format!(
                    "metadata records {} bytes, the binary has {size}",
                    meta.file_size
                ),
            }),
            Some(_) => valid.push(Arc::new(Entry::new(
                key.clone(),
                layout::bin_path(dir, &key),
                meta,
                0,
            ))),
        }
    }
    for key in bins.into_keys() {
        problems.push(Problem {
            file: layout::bin_name(&key),
            kind: "orphan_binary",
            detail: "no metadata".into(),
        });
    }
    problems.sort_by(|a, b| a.file.cmp(&b.file));

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
    let m = &e.meta;
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
    }
}

/// Reads a binary to its end and compares what it holds with the recorded size; the
/// seed's metadata records no checksum, so this is all a content check can prove (that
/// every byte is readable and none is missing). `Ok(None)` = fine; the entry may have
/// been evicted meanwhile (`NotFound` is not a problem then).
pub fn check_content(dir: &Path, entry: &EntryInfo) -> Option<Problem> {
    let key = CacheKey::parse(&entry.key)?;
    let path = layout::bin_path(dir, &key);
    let problem = |kind, detail: String| Problem {
        file: layout::bin_name(&key),
        kind,
        detail,
    };
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(problem("unreadable", e.to_string())),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => read += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Some(problem("unreadable", format!("after {read} bytes: {e}"))),
        }
    }
    (read != entry.size).then(|| {
        problem(
            "size_mismatch",
            format!("metadata records {} bytes, reading gave {read}", entry.size),
        )
    })
}
