//! Crash consistency of the disk cache: a child process stores, replaces, evicts and
//! removes entries as fast as it can and is killed with SIGKILL at a random moment, many
//! times over the same directory. After each kill the directory is opened again and must
//! be consistent: no temp file and no orphan survives the open, the index holds exactly
//! the pairs of files in the directory, and every entry served has the size and the
//! bytes that were stored under its key.
//!
//! The child is this test binary run again with `VXM_CRASH_CHILD` set (see
//! `crash_child_stores_until_killed`); without the variable that test does nothing.

use velox_testkit::cache_fixture as fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixture::*;
use rand::Rng;
use velox_core::cache::{Cache, CacheOptions, Ingest, ManualClock};
use velox_core::config::CacheConfig;
use velox_core::stats::Stats;

const KEYS: u32 = 8;
const MAX_ENTRIES: u64 = 5;
const MAX_BYTES: u64 = 5 << 20;
const MAX_FILE: usize = 2 << 20;
/// Kill/reopen rounds and their time budget; `VXM_CRASH_ITERATIONS` raises the count
/// for a longer run (the budget grows with it).
const ITERATIONS: u32 = 50;
const TIME_BUDGET: Duration = Duration::from_secs(60);

fn iterations() -> (u32, Duration) {
    match std::env::var("VXM_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) if n > ITERATIONS => (n, TIME_BUDGET * (n / ITERATIONS + 1)),
        _ => (ITERATIONS, TIME_BUDGET),
    }
}
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

const CHILD_ENV: &str = "VXM_CRASH_CHILD";

fn crash_config(dir: &Path) -> CacheConfig {
    let mut cfg = config(dir);
    cfg.max_entries = MAX_ENTRIES;
    cfg.max_size_bytes = MAX_BYTES;
    cfg
}

/// The only bytes ever stored under key `n` with `size` bytes: a torn or mixed-up file
/// cannot match them.
fn content(n: u32, size: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (u64::from(n) << 32) ^ size as u64;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Key (hex) -> n, for the keys the child uses.
fn key_table() -> BTreeMap<String, u32> {
    (0..KEYS)
        .map(|n| (seed_key(&request(n)).as_str().to_owned(), n))
        .collect()
}

/// Runs only as the child: stores until killed (or CHILD_LIFETIME passes).
#[test]
fn crash_child_stores_until_killed() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let cache_dir = PathBuf::from(parts.next().unwrap());
    let work = PathBuf::from(parts.next().unwrap());
    let copy_only = parts.next() == Some("copy");

    let ingest = if copy_only {
        Ingest::CopyOnly
    } else {
        Ingest::ReflinkOrCopy
    };
    let cache = Cache::open_with(
        &crash_config(&cache_dir),
        Arc::new(Stats::default()),
        CacheOptions {
            clock: Arc::new(ManualClock::starting_now()),
            ingest,
            ..CacheOptions::default()
        },
    )
    .expect("child opens the cache");
    std::fs::write(work.join("ready"), b"").unwrap();
    let mut progress = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.join("progress"))
        .unwrap();

    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut i = 0u64;
    while started.elapsed() < CHILD_LIFETIME {
        i += 1;
        let n = rng.gen_range(0..KEYS);
        let req = request(n);
        let key = seed_key(&req);
        match rng.gen_range(0..10) {
            0 => {
                cache.remove(&key).unwrap();
            }
            1 => {
                // Sweeps, expiry, and the access statistics rewritten into the metadata.
                cache.cleanup().unwrap();
                cache.flush().unwrap();
            }
            2 | 3 => {
                if let Some(a) = cache.lookup(&key).unwrap() {
                    assert_eq!(read_all(&a.file, a.size), content(n, a.size as usize));
                }
            }
            _ => {
                let size = rng.gen_range(0..MAX_FILE);
                let src = work.join(format!("src-{i}"));
                std::fs::write(&src, content(n, size)).unwrap();
                cache.store(&req, &key, &src, 1).unwrap();
                let _ = std::fs::remove_file(&src);
                let _ = progress.write_all(b"s");
            }
        }
    }
}

/// Kills the child when the parent fails half-way.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(cache_dir: &Path, work: &Path, copy_only: bool) -> Reaper {
    let mode = if copy_only { "copy" } else { "link" };
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_consistency::crash_child_stores_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{}|{mode}", cache_dir.display(), work.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    Reaper(child)
}

/// What one reopen found.
#[derive(Debug, Default)]
struct Checked {
    entries: u64,
    bytes: u64,
}

/// Opens the directory as a fresh process would and checks everything it serves.
fn reopen_and_check(cache_dir: &Path, keys: &BTreeMap<String, u32>) -> Checked {
    let cache = Cache::open(&crash_config(cache_dir), Arc::new(Stats::default()))
        .expect("the cache opens after a crash");
    let names = listing(cache_dir);
    let temps: Vec<&String> = names.iter().filter(|n| n.starts_with("temp_")).collect();
    assert!(
        temps.is_empty(),
        "temp files survived the reopen: {temps:?}; locks on the directory: {}",
        lock_holders(cache_dir)
    );

    let bins: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".bin"))
        .collect();
    let jsons: BTreeSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .collect();
    assert_eq!(bins, jsons, "orphans survived the reopen: {names:?}");
    assert_eq!(
        names.len(),
        bins.len() + jsons.len(),
        "stray files: {names:?}"
    );

    let usage = cache.usage();
    assert_eq!(
        usage.entries,
        bins.len() as u64,
        "index vs directory: {names:?}"
    );
    let on_disk_bytes: u64 = bins
        .iter()
        .map(|k| {
            std::fs::metadata(cache_dir.join(format!("{k}.bin")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(usage.bytes, on_disk_bytes, "index bytes vs directory");
    assert!(
        usage.entries <= MAX_ENTRIES && usage.bytes <= MAX_BYTES,
        "{usage:?}"
    );

    for (key, &n) in keys {
        let hit = cache.lookup(&seed_key(&request(n))).unwrap();
        match (hit, bins.contains(key.as_str())) {
            (Some(a), true) => {
                let disk = std::fs::metadata(cache_dir.join(format!("{key}.bin"))).unwrap();
                assert_eq!(a.size, disk.len(), "served size of {key}");
                let bytes = read_all(&a.file, a.size);
                assert!(
                    bytes == content(n, a.size as usize),
                    "entry {key} ({} bytes) does not hold what was stored under it",
                    a.size
                );
            }
            (None, false) => {}
            (hit, present) => panic!("{key}: served {} but on disk {present}", hit.is_some()),
        }
    }
    Checked {
        entries: usage.entries,
        bytes: usage.bytes,
    }
}

/// Who holds flock locks on the directory's lock file (from /proc/locks), for failures.
fn lock_holders(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir.join(".velox.lock")) else {
        return "no lock file".into();
    };
    let needle = format!(":{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let held: Vec<String> = locks
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(5)
                .is_some_and(|f| f.ends_with(&needle))
        })
        .map(|l| {
            let pid = l.split_whitespace().nth(4).unwrap_or("?");
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            format!("{l} [{cmd}] (this process is {})", std::process::id())
        })
        .collect();
    format!("{held:?}")
}

/// One process storing, then two processes storing into one directory (two RoadRunners
/// sharing a cache: the directory locks must keep one's sweep off the other's commit),
/// killed at random moments. Run in turn in one test, not as two tests in parallel: a
/// child forked by one test inherits whatever lock descriptors the other holds at that
/// instant, which muddies what a failure means (see docs/RELIABILITY.md).
#[test]
fn sigkill_during_stores_never_leaves_a_servable_torn_entry() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let (iterations, budget) = iterations();
    kill_rounds("one process", 1, iterations, budget);
    kill_rounds("two processes", 2, iterations / 2, budget / 2);
}

fn kill_rounds(label: &str, procs: usize, iterations: u32, budget: Duration) {
    let cache_dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let keys = key_table();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let (mut kills, mut entries_checked, mut bytes_checked) = (0u32, 0u64, 0u64);
    let mut torn_states = 0u32;
    let works: Vec<PathBuf> = (0..procs)
        .map(|i| {
            let w = work.path().join(format!("child-{i}"));
            std::fs::create_dir_all(&w).unwrap();
            w
        })
        .collect();

    while kills < iterations && started.elapsed() < budget {
        let mut children = Vec::new();
        for (i, w) in works.iter().enumerate() {
            let _ = std::fs::remove_file(w.join("ready"));
            let copy_only = (kills as usize + i) % 2 == 1;
            children.push(spawn_child(cache_dir.path(), w, copy_only));
        }
        let wait_until = Instant::now() + Duration::from_secs(20);
        for (child, w) in children.iter_mut().zip(&works) {
            while !w.join("ready").exists() {
                if let Some(status) = child.0.try_wait().unwrap() {
                    panic!("child exited before it was ready: {status}");
                }
                assert!(Instant::now() < wait_until, "child not ready within 20 s");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..200)));
        for child in &mut children {
            child.0.kill().unwrap(); // SIGKILL
        }
        for child in &mut children {
            let status = child.0.wait().unwrap();
            assert!(
                status.code().is_none(),
                "child ended by itself ({status}) instead of being killed"
            );
        }
        kills += 1;

        // What the kill left behind, before the reopen cleans it up.
        let left = listing(cache_dir.path());
        let temps = left.iter().filter(|n| n.starts_with("temp_")).count();
        let bins = left.iter().filter(|n| n.ends_with(".bin")).count();
        let jsons = left.iter().filter(|n| n.ends_with(".json")).count();
        if temps > 0 || bins != jsons {
            torn_states += 1;
        }

        let checked = reopen_and_check(cache_dir.path(), &keys);
        entries_checked += checked.entries;
        bytes_checked += checked.bytes;
    }
    let stores: u64 = works
        .iter()
        .map(|w| {
            std::fs::metadata(w.join("progress"))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum();
    eprintln!(
        "crash consistency ({label}): {kills} SIGKILL rounds in {:?}, {stores} stores completed in children, \
         {torn_states} rounds left a half-done store behind (temp file or unpaired file), \
         {entries_checked} entries ({bytes_checked} bytes) verified after reopens",
        started.elapsed()
    );
    assert!(
        kills >= 10,
        "only {kills} kill/reopen rounds ran within the time budget"
    );
    assert!(
        stores > 0,
        "the children never completed a store: the kills tested nothing"
    );
    assert!(
        kills < 20 || torn_states > 0,
        "no kill landed inside a store in {kills} rounds: the test lost its point"
    );
}
