//! The directory's shared index (`.velox.journal`) is derived from the entries: an entry
//! added or removed behind it is noticed, and a journal that is corrupt, of another
//! version or torn at its end is rebuilt or read around, never trusted blindly.

use velox_testkit::cache_fixture as fixture;

use std::fs;
use std::path::{Path, PathBuf};

use fixture::*;
use velox_core::request::CacheKey;

const JOURNAL: &str = ".velox.journal";

/// A scratch root with its `cache` directory, and a directory for the binaries stored.
struct Scratch {
    _root: tempfile::TempDir,
    src: tempfile::TempDir,
    dir: PathBuf,
}

fn scratch() -> Scratch {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    Scratch {
        _root: root,
        src: tempfile::tempdir().unwrap(),
        dir,
    }
}

fn limited(dir: &Path, max_entries: u64) -> velox_core::config::CacheConfig {
    let mut cfg = config(dir);
    cfg.max_entries = max_entries;
    cfg
}

fn store(o: &Opened, src_dir: &Path, n: u32) {
    let src = binary(src_dir, &format!("b{n}"), 1000 + n as usize, n as u8);
    let req = request(n);
    o.cache.store(&req, &seed_key(&req), &src, 1).unwrap();
}

/// Complete entries on disk (both files), as the shared-directory tests count them.
fn entries_on_disk(dir: &Path) -> u64 {
    listing(dir)
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .filter(|k| dir.join(format!("{k}.bin")).exists())
        .count() as u64
}

/// An entry laid down the way the seed plugin writes it, behind every process's back.
fn write_seed_entry(dir: &Path, key: &CacheKey, content: &[u8]) {
    let json = format!(
        "{{\n  \"version\": \"1.0\",\n  \"hash\": \"{key}\",\n  \"binary_file\": \"{key}.bin\",\n  \"file_size\": {},\n  \"rr_version\": \"v2025.1.2\",\n  \"platform\": {{\n    \"os\": \"linux\",\n    \"arch\": \"amd64\"\n  }},\n  \"plugins\": null,\n  \"created_at\": 1700000000,\n  \"last_accessed\": 1700000000,\n  \"access_count\": 1,\n  \"build_duration_ms\": 1000\n}}",
        content.len()
    );
    fs::write(dir.join(format!("{key}.bin")), content).unwrap();
    fs::write(dir.join(format!("{key}.json")), json).unwrap();
}

#[test]
fn a_seed_entry_added_behind_the_index_is_served_and_counted_by_every_process() {
    let Scratch { _root, src, dir } = scratch();
    let a = open(&limited(&dir, 3));
    let b = open(&limited(&dir, 3));
    (0..3).for_each(|n| store(&a, src.path(), n));

    let seed = seed_key(&request(100));
    write_seed_entry(&dir, &seed, b"seed bytes");
    let hit = a.cache.lookup(&seed).unwrap().expect("served from disk");
    assert_eq!(hit.size, 10);

    // `b` never looked at the seed's entry; its store still counts it (the lookup in
    // `a` named it in the journal), so the directory stays within the limit.
    store(&b, src.path(), 3);
    assert_eq!(entries_on_disk(&dir), 3, "{:?}", listing(&dir));
    assert_eq!(b.cache.usage().entries, 3);
}

#[test]
fn an_entry_added_or_removed_by_hand_is_noticed_at_the_next_cleanup() {
    let Scratch { _root, src, dir } = scratch();
    let a = open(&limited(&dir, 3));
    (0..3).for_each(|n| store(&a, src.path(), n));

    // Nobody looks these up: only the cleanup's listing can find them.
    write_seed_entry(&dir, &seed_key(&request(100)), b"seed bytes");
    let gone = seed_key(&request(1));
    fs::remove_file(dir.join(format!("{gone}.json"))).unwrap();
    assert_eq!(a.cache.usage().entries, 3, "not noticed before the cleanup");

    a.cache.cleanup().unwrap();
    assert_eq!(a.cache.usage().entries, 3);
    assert_eq!(entries_on_disk(&dir), 3);
    assert!(a.cache.lookup(&gone).unwrap().is_none());
    assert!(
        !dir.join(format!("{gone}.bin")).exists(),
        "the orphan binary was swept"
    );
    assert!(a.cache.lookup(&seed_key(&request(100))).unwrap().is_some());

    // Over the limit by hand: the cleanup evicts.
    write_seed_entry(&dir, &seed_key(&request(101)), b"more");
    a.cache.cleanup().unwrap();
    assert_eq!(entries_on_disk(&dir), 3);
}

/// A journal replaced under running processes (rebuilt by one of them, as after a
/// compaction) is followed by the others: read from its start, their entries kept.
#[test]
fn a_journal_replaced_under_running_processes_is_followed() {
    let Scratch { _root, src, dir } = scratch();
    let a = open(&limited(&dir, 3));
    let b = open(&limited(&dir, 3));
    (0..2).for_each(|n| store(&a, src.path(), n));

    fs::remove_file(dir.join(JOURNAL)).unwrap();
    store(&b, src.path(), 2); // rebuilds it from the directory
    store(&a, src.path(), 3); // follows the new file, evicting one
    assert_eq!(entries_on_disk(&dir), 3);
    assert_eq!(a.cache.usage().entries, 3);
    store(&b, src.path(), 4);
    assert_eq!(entries_on_disk(&dir), 3);
    assert_eq!(b.cache.usage().entries, 3);
    for n in [3, 4] {
        assert!(a.cache.lookup(&seed_key(&request(n))).unwrap().is_some());
    }
}

/// Stores `n` entries in a fresh directory and closes it; returns the journal's bytes.
fn directory_with_entries(dir: &Path, src: &Path, n: u32) -> Vec<u8> {
    let o = open(&config(dir));
    (0..n).for_each(|i| store(&o, src, i));
    drop(o);
    fs::read(dir.join(JOURNAL)).unwrap()
}

fn reopened_serves_all(dir: &Path, n: u32) {
    let o = open(&config(dir));
    assert_eq!(o.cache.usage().entries, u64::from(n));
    for i in 0..n {
        let hit = o.cache.lookup(&seed_key(&request(i))).unwrap();
        assert_eq!(hit.expect("served").size, 1000 + u64::from(i));
    }
}

#[test]
fn a_corrupt_journal_is_rebuilt_from_the_entries() {
    let Scratch { _root, src, dir } = scratch();
    directory_with_entries(&dir, src.path(), 3);

    fs::write(dir.join(JOURNAL), b"not a journal at all").unwrap();
    reopened_serves_all(&dir, 3);
    let rebuilt = fs::read(dir.join(JOURNAL)).unwrap();
    assert!(rebuilt.starts_with(b"VXMJRNL\n"), "rewritten with a header");

    // Another format version (the header's checksum is right, the version is not ours).
    let mut other = rebuilt.clone();
    other[8] = 99;
    let crc = crc32(&other[..12]);
    other[12..16].copy_from_slice(&crc.to_le_bytes());
    fs::write(dir.join(JOURNAL), &other).unwrap();
    reopened_serves_all(&dir, 3);
    assert_eq!(fs::read(dir.join(JOURNAL)).unwrap()[8], 1);
}

#[test]
fn garbage_inside_the_journal_makes_the_directory_listed_again() {
    let Scratch { _root, src, dir } = scratch();
    let mut journal = directory_with_entries(&dir, src.path(), 3);
    // Overwrite the middle of the first record: whole records follow the garbage.
    journal[16 + 40..16 + 60].fill(0xee);
    fs::write(dir.join(JOURNAL), &journal).unwrap();
    reopened_serves_all(&dir, 3);
}

#[test]
fn a_torn_journal_tail_is_ignored() {
    let Scratch { _root, src, dir } = scratch();
    let journal = directory_with_entries(&dir, src.path(), 2);
    // Half of a record, as a write cut short by a power loss leaves it.
    let mut torn = journal.clone();
    torn.extend_from_slice(&journal[journal.len() - 128..journal.len() - 70]);
    fs::write(dir.join(JOURNAL), &torn).unwrap();
    reopened_serves_all(&dir, 2);

    // Appends after the torn bytes are read by the next process.
    let o = open(&config(&dir));
    store(&o, src.path(), 2);
    let other = open(&config(&dir));
    assert_eq!(other.cache.usage().entries, 3);
    drop((o, other));
    reopened_serves_all(&dir, 3);
}

/// CRC-32 (IEEE), to forge a header of another version.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xedb8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
