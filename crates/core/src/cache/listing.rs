//! A cheap look at the whole directory: the names (and, for cleanup, the binaries'
//! sizes) without reading any metadata. Compared with the index it finds what changed
//! behind every process's back (the seed plugin, a person, a crash between a write and
//! its journal record); only those keys are then read (`survey::survey_keys`).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::index::Index;
use super::layout::{self, FileKind, LEASE_EXT};
use crate::request::CacheKey;

/// What a binary's name was found to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin {
    /// A regular file (by the directory entry's type), size not looked at.
    Named,
    Size(u64),
    /// A symbolic link or anything but a regular file.
    NotRegular,
}

#[derive(Debug, Default)]
pub(crate) struct Listing {
    bins: HashMap<CacheKey, Bin>,
    jsons: HashSet<CacheKey>,
    /// `temp_*` files: a write in progress, or a crash's leftover.
    pub temps: Vec<PathBuf>,
    /// `{key}.lease` files.
    pub leases: Vec<PathBuf>,
}

/// Lists `dir`; `sizes`: also stat every binary (without following it).
pub(crate) fn list(dir: &Path, sizes: bool) -> io::Result<Listing> {
    let mut out = Listing::default();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        match layout::classify(name) {
            FileKind::Temp => out.temps.push(dirent.path()),
            FileKind::Binary(key) => {
                let regular = dirent.file_type().is_ok_and(|t| t.is_file());
                let bin = match (regular, sizes) {
                    (false, _) => Bin::NotRegular,
                    (true, false) => Bin::Named,
                    (true, true) => match fs::symlink_metadata(dirent.path()) {
                        Ok(m) if m.is_file() => Bin::Size(m.len()),
                        Ok(_) => Bin::NotRegular,
                        Err(_) => continue, // gone meanwhile; the index check sees it
                    },
                };
                out.bins.insert(key, bin);
            }
            FileKind::Metadata(key) => {
                out.jsons.insert(key);
            }
            FileKind::Other => {
                let is_lease = name
                    .strip_suffix(LEASE_EXT)
                    .is_some_and(|stem| CacheKey::parse(stem).is_some());
                if is_lease {
                    out.leases.push(dirent.path());
                }
            }
        }
    }
    Ok(out)
}

impl Listing {
    /// Keys whose files disagree with `index`: an indexed entry with a name missing or a
    /// binary of another size, and every key the index does not know (new entries,
    /// orphans, corrupt ones).
    pub(crate) fn suspects(&self, index: &Index) -> HashSet<CacheKey> {
        let mut out = HashSet::new();
        for e in index.iter() {
            let agrees = self.jsons.contains(&e.key)
                && match self.bins.get(&e.key) {
                    Some(Bin::Named) => true,
                    Some(Bin::Size(s)) => *s == e.size,
                    Some(Bin::NotRegular) | None => false,
                };
            if !agrees {
                out.insert(e.key.clone());
            }
        }
        let named = self.jsons.iter().chain(self.bins.keys());
        out.extend(named.filter(|k| index.get(k).is_none()).cloned());
        out
    }
}
