//! The directory layout shared with the seed plugin: `{key}.bin`, `{key}.json` and
//! `temp_<uuid>.bin|.json` while a write is in progress (plus our `temp_<uuid>.health`,
//! the health probe's file).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::request::CacheKey;

pub(crate) const TEMP_PREFIX: &str = "temp_";
pub(crate) const BIN_EXT: &str = ".bin";
pub(crate) const JSON_EXT: &str = ".json";
/// The health probe's file (`crate::health`), named as a temp file so that the sweep
/// removes it when a crash leaves it behind.
pub(crate) const HEALTH_EXT: &str = ".health";
/// Coordinates sweeps with commits across processes (see `dirlock`). The seed plugin only
/// looks at `*.json`, so it ignores this file.
pub(crate) const LOCK_FILE: &str = ".velox.lock";
/// Held exclusively, by every process sharing the directory, around a store's eviction
/// and commit and around a cleanup's evictions, so that limits hold for the directory.
pub(crate) const STORE_LOCK_FILE: &str = ".velox.store.lock";
/// The directory's entries and bytes as of the last store or cleanup in any process.
pub(crate) const USAGE_FILE: &str = ".velox.usage";
/// The directory's shared index (`journal`), and the name a compaction writes first.
pub(crate) const JOURNAL_FILE: &str = ".velox.journal";
pub(crate) const JOURNAL_NEW_FILE: &str = ".velox.journal.new";
/// `{key}.lease`: a build of `key` in flight in some process (see `lease`).
pub(crate) const LEASE_EXT: &str = ".lease";

/// What a directory entry is, judged by its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKind {
    Binary(CacheKey),
    Metadata(CacheKey),
    Temp,
    Other,
}

pub(crate) fn classify(name: &str) -> FileKind {
    if name.starts_with(TEMP_PREFIX)
        && [BIN_EXT, JSON_EXT, HEALTH_EXT]
            .iter()
            .any(|ext| name.ends_with(ext))
    {
        return FileKind::Temp;
    }
    if let Some(stem) = name.strip_suffix(BIN_EXT) {
        if let Some(key) = CacheKey::parse(stem) {
            return FileKind::Binary(key);
        }
    }
    if let Some(stem) = name.strip_suffix(JSON_EXT) {
        if let Some(key) = CacheKey::parse(stem) {
            return FileKind::Metadata(key);
        }
    }
    FileKind::Other
}

pub(crate) fn bin_name(key: &CacheKey) -> String {
    format!("{key}{BIN_EXT}")
}

pub(crate) fn bin_path(dir: &Path, key: &CacheKey) -> PathBuf {
    dir.join(bin_name(key))
}

pub(crate) fn json_path(dir: &Path, key: &CacheKey) -> PathBuf {
    dir.join(format!("{key}{JSON_EXT}"))
}

pub(crate) fn lease_path(dir: &Path, key: &CacheKey) -> PathBuf {
    dir.join(format!("{key}{LEASE_EXT}"))
}

/// `temp_<uuid v4>{ext}`, the seed plugin's naming, so either implementation's sweep
/// recognises the other's leftovers.
pub(crate) fn temp_path(dir: &Path, ext: &str) -> PathBuf {
    let r: u128 = rand::random();
    // Version 4, variant 10xx.
    let r = (r & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{r:032x}");
    dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{}-{}-{}{ext}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Makes the renames done in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Where entries whose binary is not the build their metadata describes are moved (not
/// deleted: the operator may want to know what the build server or the bucket gave).
/// Not a name the cache reads as an entry, so it is never served from there.
pub(crate) const MISMATCHED_DIR: &str = "mismatched";

/// Moves a file into the directory `to`, same name; `Ok(false)` when it was gone.
pub(crate) fn rename_if_exists(path: &Path, to: &Path) -> io::Result<bool> {
    let Some(name) = path.file_name() else {
        return Ok(false);
    };
    match std::fs::rename(path, to.join(name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a file; `Ok(false)` when it was already gone.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_look_like_the_seeds() {
        let p = temp_path(Path::new("/c"), BIN_EXT);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), "temp_".len() + 36 + 4);
        assert_eq!(&name[5 + 14..5 + 15], "4");
        assert_eq!(classify(name), FileKind::Temp);
        let probe = temp_path(Path::new("/c"), HEALTH_EXT);
        assert_eq!(
            classify(probe.file_name().unwrap().to_str().unwrap()),
            FileKind::Temp
        );
    }

    #[test]
    fn classifies_by_name_only() {
        let k = "a".repeat(64);
        let key = CacheKey::parse(&k).unwrap();
        assert_eq!(classify(&format!("{k}.bin")), FileKind::Binary(key.clone()));
        assert_eq!(classify(&format!("{k}.json")), FileKind::Metadata(key));
        assert_eq!(classify("README"), FileKind::Other);
        assert_eq!(
            classify(&format!("{}.bin", "A".repeat(64))),
            FileKind::Other
        );
        assert_eq!(classify(LOCK_FILE), FileKind::Other);
    }
}
