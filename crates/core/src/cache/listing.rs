//! A cheap look at the whole directory: the names (and, for cleanup, the binaries'
//! sizes) without reading any metadata. Compared with the index it finds what changed
//! behind every process's back (the seed plugin, a person, a crash between a write and
//! its journal record); only those keys are then read (`survey::survey_keys`).
//!
//! A directory of 100,000 entries has 200,000 names, so names are kept as the 32 bytes
//! their hex spells, hashed by their first bytes (they are SHA-256 output): no string per
//! name, no SipHash over 64 characters.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::content::{hex, unhex32};
use super::index::Index;
use super::layout::{BIN_EXT, JSON_EXT, LEASE_EXT, TEMP_PREFIX};
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
struct Names {
    bin: Option<Bin>,
    json: bool,
    /// Seen while comparing with the index.
    indexed: bool,
}

/// Folds the key's bytes 8 at a time: they are a hash already.
#[derive(Default)]
struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Listing {
    names: HashMap<[u8; 32], Names, BuildHasherDefault<Folded>>,
    /// `temp_*` files: a write in progress, or a crash's leftover.
    pub temps: Vec<PathBuf>,
    /// `{key}.lease` files.
    pub leases: Vec<PathBuf>,
}

/// Lists `dir`; `sizes`: also stat every binary (without following it). Names are
/// judged as `layout::classify` judges them.
pub(crate) fn list(dir: &Path, sizes: bool) -> io::Result<Listing> {
    let mut out = Listing::default();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let name = name.as_bytes();
        let temp = name.starts_with(TEMP_PREFIX.as_bytes())
            && (name.ends_with(BIN_EXT.as_bytes()) || name.ends_with(JSON_EXT.as_bytes()));
        if temp {
            out.temps.push(dirent.path());
        } else if let Some(key) = key_before(name, BIN_EXT) {
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
            out.names.entry(key).or_default().bin = Some(bin);
        } else if let Some(key) = key_before(name, JSON_EXT) {
            out.names.entry(key).or_default().json = true;
        } else if key_before(name, LEASE_EXT).is_some() {
            out.leases.push(dirent.path());
        }
    }
    Ok(out)
}

/// The key spelled by `name` without `ext`, if it is one.
fn key_before(name: &[u8], ext: &str) -> Option<[u8; 32]> {
    unhex32(name.strip_suffix(ext.as_bytes())?)
}

impl Listing {
    /// Keys whose files disagree with `index`: an indexed entry with a name missing or a
    /// binary of another size, and every key the index does not know (new entries,
    /// orphans, corrupt ones).
    pub(crate) fn suspects(&mut self, index: &Index) -> HashSet<CacheKey> {
        let mut out = HashSet::new();
        for names in self.names.values_mut() {
            names.indexed = false;
        }
        for e in index.iter() {
            let found = unhex32(e.key.as_str().as_bytes()).and_then(|k| self.names.get_mut(&k));
            let agrees = match found {
                Some(names) => {
                    names.indexed = true;
                    names.json
                        && match names.bin {
                            Some(Bin::Named) => true,
                            Some(Bin::Size(s)) => s == e.size,
                            Some(Bin::NotRegular) | None => false,
                        }
                }
                None => false,
            };
            if !agrees {
                out.insert(e.key.clone());
            }
        }
        let unknown = self.names.iter().filter(|(_, n)| !n.indexed);
        out.extend(unknown.filter_map(|(k, _)| CacheKey::parse(&hex(k))));
        out
    }
}
