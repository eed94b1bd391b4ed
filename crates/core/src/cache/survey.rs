//! What a cache directory holds, judged once for everyone: recovery at open and at each
//! cleanup (which then deletes the problems) and `velox-cache` (which reports them) call
//! this same function, so they can never disagree about what is an entry.
//!
//! Nothing is followed: a `{key}.bin` or `{key}.json` that is a symbolic link (or a
//! FIFO, a directory, ...) is a problem, never an entry, whatever it points to.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::layout::{self, FileKind};
use super::meta::Metadata;
use crate::request::CacheKey;

/// A committed entry whose metadata and binary agree.
#[derive(Debug)]
pub(crate) struct Found {
    pub key: CacheKey,
    pub meta: Metadata,
}

/// What is wrong with one name of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `temp_*`: a commit in progress, or a crash's leftover.
    TempFile,
    OrphanBinary,
    OrphanMetadata,
    /// Unparsable metadata, or a name that is not a regular file.
    Corrupt,
    SizeMismatch,
    /// The binary could not even be looked at.
    Unreadable,
}

impl Kind {
    /// The name `velox-cache` reports.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::TempFile => "temp_file",
            Kind::OrphanBinary => "orphan_binary",
            Kind::OrphanMetadata => "orphan_metadata",
            Kind::Corrupt => "corrupt",
            Kind::SizeMismatch => "size_mismatch",
            Kind::Unreadable => "unreadable",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Problem {
    /// The file name the report points at.
    pub file: String,
    pub kind: Kind,
    pub detail: String,
    /// What a sweep deletes to get rid of it (unlinking a symlink removes the link only).
    pub remove: Vec<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct Survey {
    pub found: Vec<Found>,
    pub problems: Vec<Problem>,
}

/// The state of a binary's name, looked at without following it.
enum Bin {
    Regular(u64),
    NotRegular(&'static str),
    Unreadable(String),
}

/// Lists `dir` and classifies every name the cache knows; other names are ignored.
pub(crate) fn survey(dir: &Path) -> io::Result<Survey> {
    let mut out = Survey::default();
    let mut bins: BTreeMap<CacheKey, Bin> = BTreeMap::new();
    let mut jsons: Vec<CacheKey> = Vec::new();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        match layout::classify(name) {
            FileKind::Temp => out.problems.push(Problem {
                file: name.to_owned(),
                kind: Kind::TempFile,
                detail: "an unfinished write (a commit in progress, or a crash's leftover)".into(),
                remove: vec![dirent.path()],
            }),
            FileKind::Binary(key) => {
                if let Some(state) = look_at_bin(&dirent.path()) {
                    bins.insert(key, state);
                }
            }
            FileKind::Metadata(key) => jsons.push(key),
            FileKind::Other => {}
        }
    }
    judge(dir, bins, jsons, &mut out);
    Ok(out)
}

/// The same judgement for `keys` only, looking at their two names each (no listing):
/// what the journal says changed, or what a listing found different from the index.
pub(crate) fn survey_keys<'a>(dir: &Path, keys: impl IntoIterator<Item = &'a CacheKey>) -> Survey {
    let mut out = Survey::default();
    let mut bins: BTreeMap<CacheKey, Bin> = BTreeMap::new();
    let mut jsons: Vec<CacheKey> = Vec::new();
    for key in keys {
        if let Some(state) = look_at_bin(&layout::bin_path(dir, key)) {
            bins.insert(key.clone(), state);
        }
        if fs::symlink_metadata(layout::json_path(dir, key)).is_ok() {
            jsons.push(key.clone());
        }
    }
    judge(dir, bins, jsons, &mut out);
    out
}

/// `None` when the name is gone (removed while we looked).
fn look_at_bin(path: &Path) -> Option<Bin> {
    Some(match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Bin::NotRegular("a symbolic link"),
        Ok(m) if m.is_file() => Bin::Regular(m.len()),
        Ok(_) => Bin::NotRegular("not a regular file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => Bin::Unreadable(e.to_string()),
    })
}

/// Pairs binaries with metadata: an entry, or a problem with what a sweep deletes.
fn judge(dir: &Path, mut bins: BTreeMap<CacheKey, Bin>, jsons: Vec<CacheKey>, out: &mut Survey) {
    for key in jsons {
        let json_name = format!("{key}{}", layout::JSON_EXT);
        let json = layout::json_path(dir, &key);
        let bin_path = layout::bin_path(dir, &key);
        let bin = bins.remove(&key);
        let meta = match Metadata::load(dir, &key) {
            Ok(meta) => meta,
            Err(e) if e.is_not_found() => continue, // removed while we listed
            Err(e) => {
                let mut remove = vec![json];
                remove.extend(bin.map(|_| bin_path));
                out.problems.push(Problem {
                    file: json_name,
                    kind: Kind::Corrupt,
                    detail: e.to_string(),
                    remove,
                });
                continue;
            }
        };
        let both = vec![json.clone(), bin_path.clone()];
        let problem = |file: String, kind, detail: String, remove| Problem {
            file,
            kind,
            detail,
            remove,
        };
        let bin_name = layout::bin_name(&key);
        match bin {
            None => out.problems.push(problem(
                json_name,
                Kind::OrphanMetadata,
                "its binary is missing".into(),
                vec![json],
            )),
            Some(Bin::NotRegular(what)) => out.problems.push(problem(
                bin_name,
                Kind::Corrupt,
                format!("{what}, not served"),
                both,
            )),
            Some(Bin::Unreadable(e)) => {
                out.problems
                    .push(problem(bin_name, Kind::Unreadable, e, both))
            }
            Some(Bin::Regular(size)) if size != meta.file_size => out.problems.push(problem(
                bin_name,
                Kind::SizeMismatch,
                format!(
                    "metadata records {} bytes, the binary has {size}",
                    meta.file_size
                ),
                both,
            )),
            Some(Bin::Regular(_)) => out.found.push(Found { key, meta }),
        }
    }
    for (key, state) in bins {
        let detail = match state {
            Bin::Regular(_) => "no metadata".to_owned(),
            Bin::NotRegular(what) => format!("no metadata, and {what}"),
            Bin::Unreadable(e) => format!("no metadata: {e}"),
        };
        out.problems.push(Problem {
            file: layout::bin_name(&key),
            kind: Kind::OrphanBinary,
            detail,
            remove: vec![layout::bin_path(dir, &key)],
        });
    }
    out.problems.sort_by(|a, b| a.file.cmp(&b.file));
}
