//! One cache directory shared by several real processes: the limits hold for the
//! directory, counted on disk after every store in every process, and every process's
//! stats report the directory's size beside its own index.
//!
//! The processes are this test binary run again with `VXM_SHARED_CHILD` set: each child
//! runs `child_stores` only, opens the directory with the same limits, waits for a start
//! file so that all stores overlap, then stores its entries.

use velox_testkit::cache_fixture as fixture;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fixture::*;
use velox_core::cache::Clock;
use velox_core::request::CacheKey;

const PROCESSES: u32 = 3;
const STORES_EACH: u32 = 6;
const ENTRY_BYTES: usize = 100_000;
const MAX_ENTRIES: u64 = 3;
const MAX_BYTES: u64 = 300_000;
const CHILD_ENV: &str = "VXM_SHARED_CHILD";

/// Complete entries on disk (metadata and binary both present) and their bytes. The
/// listing is taken first and each entry checked after, so an entry evicted while the
/// listing ran is not counted beside the one that replaced it.
fn on_disk(dir: &Path) -> (u64, u64) {
    let keys: Vec<CacheKey> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            CacheKey::parse(name.strip_suffix(".json")?)
        })
        .collect();
    let (mut entries, mut bytes) = (0, 0);
    for key in keys {
        let complete = dir.join(format!("{key}.json")).exists();
        if let (true, Ok(bin)) = (complete, fs::metadata(dir.join(format!("{key}.bin")))) {
            entries += 1;
            bytes += bin.len();
        }
    }
    (entries, bytes)
}

fn limited(dir: &Path) -> velox_core::config::CacheConfig {
    let mut cfg = config(dir);
    cfg.max_entries = MAX_ENTRIES;
    cfg.max_size_bytes = MAX_BYTES;
    cfg
}

/// Two processes' view of one directory holding at most `MAX_ENTRIES` small entries (no
/// byte limit): a scratch root, its `cache` directory and the config both open it with.
struct SmallEntries {
    root: tempfile::TempDir,
    dir: PathBuf,
    cfg: velox_core::config::CacheConfig,
}

impl SmallEntries {
    /// None inside a child process, which runs `child_stores` only.
    fn outside_a_child() -> Option<SmallEntries> {
        if std::env::var(CHILD_ENV).is_ok() {
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        let mut cfg = limited(&dir);
        cfg.max_size_bytes = 0;
        Some(SmallEntries { root, dir, cfg })
    }

    fn open(&self) -> Opened {
        open(&self.cfg)
    }

    /// Stores entry `n` (10 bytes from a source file under the root) through `opened`.
    fn store(&self, opened: &Opened, n: u32) {
        let src = binary(self.root.path(), &format!("src{n}"), 10, n as u8);
        opened
            .cache
            .store(&request(n), &request(n).key(), &src, 1)
            .unwrap();
    }
}

/// Runs only inside a child process (a no-op in the normal test run).
#[test]
fn child_stores() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, rest) = spec.split_once('|').expect("dir|process|start");
    let (process, start) = rest.split_once('|').expect("process|start");
    let process: u32 = process.parse().unwrap();
    let dir = PathBuf::from(dir);
    let src_dir = tempfile::tempdir().unwrap();
    let opened = open(&limited(&dir));

    let give_up = Instant::now() + Duration::from_secs(60);
    while !Path::new(start).exists() {
        assert!(Instant::now() < give_up, "start file never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 0..STORES_EACH {
        let n = 100 + process * 10 + i;
        let req = request(n);
        let src = binary(src_dir.path(), &format!("b{n}"), ENTRY_BYTES, n as u8);
        let artifact = opened.cache.store(&req, &req.key(), &src, 1).unwrap();
        assert_eq!(artifact.size, ENTRY_BYTES as u64);
        let (entries, bytes) = on_disk(&dir);
        println!("process {process} store {i}: {entries} entries, {bytes} bytes on disk");
        assert!(
            entries <= MAX_ENTRIES && bytes <= MAX_BYTES,
            "process {process}, after store {i}: {entries} entries / {bytes} bytes on disk, \
             limits {MAX_ENTRIES} / {MAX_BYTES}"
        );
        let dir_usage = opened
            .cache
            .directory_usage()
            .expect("recorded by the store");
        assert!(dir_usage.entries <= MAX_ENTRIES && dir_usage.bytes <= MAX_BYTES);
    }
    opened.cache.close();
}

fn spawn_child(dir: &Path, process: u32, start: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "shared_dir::child_stores",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{process}|{}", dir.display(), start.display()),
        )
        .spawn()
        .expect("child process starts")
}

fn wait_all(children: Vec<Child>) {
    let give_up = Instant::now() + Duration::from_secs(180);
    for mut child in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a child process failed: {status}");
                break;
            }
            if Instant::now() > give_up {
                let _ = child.kill();
                panic!("a child process did not finish in 180 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn three_processes_never_exceed_the_directory_limits() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    fs::create_dir(&dir).unwrap();
    let start = root.path().join("start");
    let children: Vec<Child> = (0..PROCESSES)
        .map(|p| spawn_child(&dir, p, &start))
        .collect();
    // Let them open the directory first, then release all stores at once.
    std::thread::sleep(Duration::from_millis(300));
    fs::write(&start, b"go").unwrap();
    wait_all(children);

    let (entries, bytes) = on_disk(&dir);
    assert_eq!(
        (entries, bytes),
        (MAX_ENTRIES, MAX_BYTES),
        "18 stores of 100 kB into 3 entries / 300 kB leave the directory full, not over"
    );

    // A fresh process-local view and the recorded directory usage agree with the disk.
    let opened = open(&limited(&dir));
    assert_eq!(opened.cache.usage().entries, MAX_ENTRIES);
    let recorded = opened.cache.directory_usage().unwrap();
    assert_eq!((recorded.entries, recorded.bytes), (entries, bytes));
}

/// Another process's stores are counted by this one's next store: its own index knew of
/// 2 entries, the directory held 3 more, and the store evicts down to the limit.
#[test]
fn a_store_sees_what_other_processes_stored() {
    let Some(small) = SmallEntries::outside_a_child() else {
        return;
    };
    let dir = &small.dir;
    let a = small.open();
    let b = small.open();
    (0..2).for_each(|n| small.store(&a, n));
    // `b` opened before those stores: its index is empty.
    assert_eq!(b.cache.usage().entries, 0);
    small.store(&b, 9);
    small.store(&b, 10);
    assert_eq!(on_disk(dir).0, MAX_ENTRIES);
    assert_eq!(b.cache.usage().entries, MAX_ENTRIES);
    // The victim is one `b` never stored nor read: chosen over the whole directory (the
    // least recently used; `b`'s clock is not behind `a`'s).
    let gone = [0, 1]
        .iter()
        .filter(|&&n| !dir.join(format!("{}.json", request(n).key())).exists())
        .count();
    assert_eq!(gone, 1);
    let usage = a.cache.directory_usage().unwrap();
    assert_eq!((usage.entries, usage.bytes), (3, 30));
    // `a` still indexes the evicted entry until it looks: its own counters, not the dir's.
    assert_eq!(a.cache.usage().entries, 2);
}

/// A lookup that finds another process's entry on disk does not make this process
/// report more entries than the limit: the entries that process evicted to make room are
/// dropped from this one's index too.
#[test]
fn an_on_disk_lookup_never_reports_more_than_the_limit() {
    let Some(small) = SmallEntries::outside_a_child() else {
        return;
    };
    let dir = &small.dir;
    let a = small.open();
    let b = small.open();
    (0..3).for_each(|n| small.store(&a, n));
    // `b` fills the directory with its own entries, evicting all of `a`'s.
    (10..13).for_each(|n| small.store(&b, n));
    assert_eq!(on_disk(dir).0, MAX_ENTRIES);
    assert!(a.cache.lookup(&request(10).key()).unwrap().is_some());
    let usage = a.cache.usage();
    assert!(
        usage.entries <= MAX_ENTRIES,
        "this process reports {} entries, limit {MAX_ENTRIES}",
        usage.entries
    );
    assert_eq!(usage.entries, 1, "only what it knows is still there");
}

/// Hits another process has flushed count for the policy: `a` read its oldest entry
/// recently, so `b`'s store evicts the next oldest instead (LRU).
#[test]
fn access_statistics_flushed_by_another_process_count() {
    let Some(small) = SmallEntries::outside_a_child() else {
        return;
    };
    let dir = &small.dir;
    let a = small.open();
    for n in 0..3 {
        small.store(&a, n);
        a.clock.advance(1);
    }
    // `b` indexes the three entries as they are now (entry 0 the least recently used).
    let b = small.open();
    b.clock.set(a.clock.now());
    a.clock.advance(10);
    assert!(a.cache.lookup(&request(0).key()).unwrap().is_some());
    a.cache.flush().unwrap();

    small.store(&b, 9);
    let cached = |n: u32| dir.join(format!("{}.json", request(n).key())).exists();
    assert!(cached(0), "read by `a` after the others: kept");
    assert!(
        !cached(1),
        "the least recently used over both processes: evicted"
    );
    assert!(cached(2) && cached(9));
}
