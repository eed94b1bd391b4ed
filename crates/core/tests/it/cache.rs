//! The disk cache against real directories: seed compatibility, recovery, no write on a
//! hit, artifacts outliving their entries, limits, ingest paths, failures, sharing.

use velox_testkit::cache_fixture as fixture;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use fixture::*;
use velox_core::artifact::{Artifact, Source};
use velox_core::cache::{Cache, Ingest};
use velox_core::config::CacheConfig;
use velox_core::error::Error;
use velox_core::request::CacheKey;
use velox_core::stats::Stats;

/// Exactly what Go's `json.MarshalIndent(entry, "", "  ")` writes for the seed's
/// `CacheEntry` (no trailing newline).
fn seed_json(key: &CacheKey, size: u64, created: i64, accessed: i64, count: u64) -> String {
    format!(
        r#"{{
  "version": "1.0",
  "hash": "{key}",
  "binary_file": "{key}.bin",
  "file_size": {size},
  "rr_version": "v2025.1.2",
  "platform": {{
    "os": "windows",
    "arch": "amd64"
  }},
  "plugins": [
    {{
      "module_name": "github.com/roadrunner-server/http/v5",
      "tag": "v5.2.7"
    }},
    {{
      "module_name": "github.com/roadrunner-server/grpc/v5",
      "tag": "v5.1.0"
    }}
  ],
  "created_at": {created},
  "last_accessed": {accessed},
  "access_count": {count},
  "build_duration_ms": 61234
}}"#
    )
}

const SEED_KEY: &str = "df2ccba7540d565268726e19408c60ce4acf709b8a50f78056a8283c46e1ae75";

fn write_seed_entry(dir: &Path, key: &CacheKey, content: &[u8]) {
    let json = seed_json(key, content.len() as u64, 1_700_000_000, 1_700_000_100, 3);
    write_entry(dir, key, content, json.as_bytes());
}

/// Lays down an entry's two files by hand, consistent or not: how recovery's cases are made.
fn write_entry(dir: &Path, key: &CacheKey, bin: &[u8], json: &[u8]) {
    fs::write(dir.join(format!("{key}.bin")), bin).unwrap();
    fs::write(dir.join(format!("{key}.json")), json).unwrap();
}

/// The entry's metadata as it is on disk now.
fn read_meta(dir: &Path, key: &CacheKey) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(format!("{key}.json"))).unwrap()).unwrap()
}

/// A cache (its config changed by `tweak`) in a fresh directory, and a second directory for
/// the binaries handed to it.
struct Fresh {
    tmp: tempfile::TempDir,
    src_dir: tempfile::TempDir,
    o: Opened,
}

fn fresh(tweak: impl FnOnce(&mut CacheConfig)) -> Fresh {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    tweak(&mut cfg);
    let o = open(&cfg);
    Fresh { tmp, src_dir, o }
}

/// Stores `src` as the build of `request(n)`; the build duration plays no part here.
fn store_request(cache: &Cache, n: u32, src: &Path) -> Artifact {
    let req = request(n);
    cache.store(&req, &seed_key(&req), src, 1).unwrap()
}

#[test]
fn serves_a_directory_written_by_the_seed_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let key = CacheKey::parse(SEED_KEY).unwrap();
    write_seed_entry(tmp.path(), &key, b"MZ seed-built roadrunner.exe");
    let json_before = fs::read(tmp.path().join(format!("{key}.json"))).unwrap();

    let o = open(&config(tmp.path()));
    assert_eq!(o.cache.usage().entries, 1);
    let a = o.cache.lookup(&key).unwrap().expect("seed entry is a hit");
    assert_eq!(a.source, Source::CacheHit);
    assert_eq!(a.size, 28);
    assert_eq!(read_all(&a.file, a.size), b"MZ seed-built roadrunner.exe");
    assert_eq!(
        a.path,
        tmp.path()
            .canonicalize()
            .unwrap()
            .join(format!("{key}.bin"))
    );
    assert_eq!(
        fs::read(tmp.path().join(format!("{key}.json"))).unwrap(),
        json_before
    );
}

#[test]
fn our_metadata_has_the_seed_fields_and_types() {
    let Fresh { tmp, src_dir, o } = fresh(|_| {});
    let req = request(7);
    let key = seed_key(&req);
    let src = binary(src_dir.path(), "rr", 100, 1);
    o.cache.store(&req, &key, &src, 4321).unwrap();

    let text = fs::read_to_string(tmp.path().join(format!("{key}.json"))).unwrap();
    assert!(
        text.starts_with("{\n  \"version\": \"1.0\",\n  \"hash\": "),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut expected = vec![
        "access_count",
        "binary_file",
        "build_duration_ms",
        "created_at",
        "file_size",
        "hash",
        "last_accessed",
        "platform",
        "plugins",
        "rr_version",
        "sha256",
        "version",
    ];
    expected.sort();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(names_sorted, expected);
    assert_eq!(v["hash"], key.as_str());
    assert_eq!(v["binary_file"], format!("{key}.bin"));
    assert_eq!(v["file_size"], 100);
    assert_eq!(v["rr_version"], "v2025.1.2");
    assert_eq!(v["platform"]["os"], "linux");
    assert_eq!(v["platform"]["arch"], "amd64");
    assert_eq!(
        v["plugins"][0]["module_name"],
        "github.com/roadrunner-server/http/v5"
    );
    assert_eq!(v["plugins"][0]["tag"], "v5.2.7");
    assert_eq!(v["created_at"], o.clock_now());
    assert_eq!(v["last_accessed"], o.clock_now());
    assert_eq!(v["access_count"], 1);
    assert_eq!(v["build_duration_ms"], 4321);
}

trait ClockNow {
    fn clock_now(&self) -> i64;
}
impl ClockNow for Opened {
    fn clock_now(&self) -> i64 {
        use velox_core::cache::Clock;
        self.clock.now()
    }
}

#[test]
fn opening_a_dirty_directory_cleans_it_and_keeps_the_good_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = seed_key(&request(1));
    write_seed_entry(d, &good, b"good");

    // Leftovers of interrupted writes, ours or the seed's.
    fs::write(
        d.join("temp_0b7f3c1e-8a4d-4c3e-9f00-123456789abc.bin"),
        b"half",
    )
    .unwrap();
    fs::write(
        d.join("temp_5d2e1f00-1111-4222-8333-444455556666.json"),
        b"{",
    )
    .unwrap();
    // A binary without metadata, metadata without a binary.
    let orphan_bin = seed_key(&request(2));
    fs::write(d.join(format!("{orphan_bin}.bin")), b"orphan").unwrap();
    let orphan_json = seed_key(&request(3));
    fs::write(
        d.join(format!("{orphan_json}.json")),
        seed_json(&orphan_json, 3, 1, 1, 1),
    )
    .unwrap();
    // Corrupt JSON.
    let corrupt = seed_key(&request(4));
    write_entry(d, &corrupt, b"abc", b"{\"version\": \"1.0\", \"hash\":");
    // Metadata naming another hash.
    let wrong_hash = seed_key(&request(5));
    write_entry(
        d,
        &wrong_hash,
        b"abc",
        seed_json(&good, 3, 1, 1, 1).as_bytes(),
    );
    // file_size disagreeing with the binary.
    let wrong_size = seed_key(&request(6));
    let json = seed_json(&wrong_size, 3, 1, 1, 1);
    write_entry(d, &wrong_size, b"abcd", json.as_bytes());
    // Not ours: left alone.
    fs::write(d.join("README.txt"), b"operator notes").unwrap();

    let o = open(&config(d));
    // The good entry was written by the seed: it gets its hash recorded in the background.
    o.cache.wait_hashed();
    assert_eq!(
        listing(d),
        vec![
            format!("{good}.bin"),
            format!("{good}.json"),
            "README.txt".to_owned()
        ]
    );
    assert_eq!(o.cache.usage().entries, 1);
    assert_eq!(o.cache.usage().bytes, 4);
    for bad in [orphan_bin, orphan_json, corrupt, wrong_hash, wrong_size] {
        assert!(o.cache.lookup(&bad).unwrap().is_none(), "{bad}");
    }
    assert!(o.cache.lookup(&good).unwrap().is_some());
}

#[test]
fn a_hit_writes_nothing_until_the_flush() {
    let Fresh { tmp, src_dir, o } = fresh(|_| {});
    let req = request(1);
    let key = seed_key(&req);
    o.cache
        .store(&req, &key, &binary(src_dir.path(), "rr", 64, 9), 10)
        .unwrap();
    let json_path = tmp.path().join(format!("{key}.json"));
    let before = fs::read(&json_path).unwrap();
    let before_meta = fs::metadata(&json_path).unwrap();
    let created = o.clock_now();

    o.clock.advance(120);
    for _ in 0..3 {
        assert!(o.cache.lookup(&key).unwrap().is_some());
    }
    let after_hits = fs::metadata(&json_path).unwrap();
    assert_eq!(fs::read(&json_path).unwrap(), before);
    assert_eq!(
        after_hits.ino(),
        before_meta.ino(),
        "metadata file replaced"
    );
    assert_eq!(after_hits.mtime_nsec(), before_meta.mtime_nsec());
    assert_eq!(after_hits.mtime(), before_meta.mtime());

    o.cache.flush().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(v["access_count"], 4);
    assert_eq!(v["last_accessed"], created + 120);
    assert_eq!(v["created_at"], created);
    assert_ne!(fs::metadata(&json_path).unwrap().ino(), before_meta.ino());

    // Nothing pending: a second flush writes nothing.
    let ino = fs::metadata(&json_path).unwrap().ino();
    o.cache.flush().unwrap();
    assert_eq!(fs::metadata(&json_path).unwrap().ino(), ino);
}

#[test]
fn access_update_interval_zero_writes_at_once() {
    let Fresh { tmp, src_dir, o } = fresh(|c| c.access_update_interval = Duration::ZERO);
    let key = store_request(&o.cache, 1, &binary(src_dir.path(), "rr", 8, 1)).key;
    o.clock.advance(5);
    o.cache.lookup(&key).unwrap().unwrap();
    let v = read_meta(tmp.path(), &key);
    assert_eq!(v["access_count"], 2);
    assert_eq!(v["last_accessed"], o.clock_now());
}

#[test]
fn close_flushes_access_statistics() {
    let Fresh { tmp, src_dir, o } = fresh(|_| {});
    let key = store_request(&o.cache, 1, &binary(src_dir.path(), "rr", 8, 1)).key;
    o.cache.lookup(&key).unwrap().unwrap();
    o.cache.close();
    let v = read_meta(tmp.path(), &key);
    assert_eq!(v["access_count"], 2);
}

#[test]
fn an_artifact_stays_readable_after_its_entry_is_removed() {
    let Fresh { tmp, src_dir, o } = fresh(|_| {});
    let src = binary(src_dir.path(), "rr", 4096, 3);
    let expected = fs::read(&src).unwrap();
    let key = store_request(&o.cache, 1, &src).key;
    fs::remove_file(&src).unwrap();

    let a = o.cache.lookup(&key).unwrap().unwrap();
    assert!(o.cache.remove(&key).unwrap());
    assert!(!o.cache.remove(&key).unwrap());
    assert!(listing(tmp.path()).is_empty());
    assert!(o.cache.lookup(&key).unwrap().is_none());
    assert_eq!(read_all(&a.file, a.size), expected);
}

#[test]
fn an_artifact_stays_readable_after_its_entry_is_evicted() {
    let Fresh {
        tmp: _tmp,
        src_dir,
        o,
    } = fresh(|c| c.max_entries = 1);
    let a = store_request(&o.cache, 1, &binary(src_dir.path(), "a", 1000, 1));
    let expected = fs::read(src_dir.path().join("a")).unwrap();
    fs::remove_file(src_dir.path().join("a")).unwrap();
    store_request(&o.cache, 2, &binary(src_dir.path(), "b", 10, 2));
    assert!(o.cache.lookup(&a.key).unwrap().is_none());
    assert_eq!(Stats::get(&o.stats.evictions), 1);
    assert_eq!(read_all(&a.file, a.size), expected);
}

#[test]
fn stores_a_copy_of_its_own_never_a_hard_link() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let o = open(&config(&cache_dir));
    let src = binary(tmp.path(), "rr", 500, 4);
    let expected = fs::read(&src).unwrap();
    let a = store_request(&o.cache, 1, &src);
    let key = a.key.clone();
    let cached = cache_dir.join(format!("{key}.bin"));
    assert_ne!(
        fs::metadata(&cached).unwrap().ino(),
        fs::metadata(&src).unwrap().ino()
    );
    assert_eq!(fs::metadata(&src).unwrap().nlink(), 1);
    assert_eq!(a.source, Source::Built);
    assert_eq!(
        a.path,
        cache_dir.canonicalize().unwrap().join(format!("{key}.bin"))
    );
    // Rewriting the build output in place (same size, other bytes) changes nothing.
    fs::write(&src, vec![0xAAu8; 500]).unwrap();
    assert_eq!(read_all(&a.file, a.size), expected);
    let hit = o.cache.lookup(&key).unwrap().unwrap();
    assert_eq!(read_all(&hit.file, hit.size), expected);
    assert_eq!(hit.sha256, a.sha256);
    // The source stays where the build left it.
    assert!(src.exists());
}

#[test]
fn stores_by_copy_when_links_are_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let o = open_with(&config(&cache_dir), Ingest::CopyOnly);
    let src = binary(tmp.path(), "rr", 70_000, 5);
    let a = store_request(&o.cache, 1, &src);
    let key = a.key.clone();
    let cached = cache_dir.join(format!("{key}.bin"));
    assert_ne!(
        fs::metadata(&cached).unwrap().ino(),
        fs::metadata(&src).unwrap().ino()
    );
    assert_eq!(fs::read(&cached).unwrap(), fs::read(&src).unwrap());
    assert_eq!(read_all(&a.file, a.size), fs::read(&src).unwrap());
}

#[test]
fn stores_by_copy_across_filesystems() {
    let shm = Path::new("/dev/shm");
    let Ok(src_dir) = tempfile::tempdir_in(shm) else {
        eprintln!("skipped: no /dev/shm");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    if fs::metadata(shm).unwrap().dev() == fs::metadata(tmp.path()).unwrap().dev() {
        eprintln!("skipped: /dev/shm is on the temp directory's filesystem");
        return;
    }
    let o = open(&config(tmp.path()));
    let src = binary(src_dir.path(), "rr", 12_345, 6);
    let a = store_request(&o.cache, 1, &src);
    let key = a.key.clone();
    let cached = tmp.path().join(format!("{key}.bin"));
    assert_eq!(fs::read(&cached).unwrap(), fs::read(&src).unwrap());
    assert_ne!(
        fs::metadata(&cached).unwrap().dev(),
        fs::metadata(&src).unwrap().dev()
    );
    assert_eq!(a.size, 12_345);
    assert_eq!(listing(tmp.path()).len(), 2, "no temp file left");
}

#[test]
fn a_store_into_a_vanished_directory_fails_with_io_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let o = open(&config(&cache_dir));
    let req = request(1);
    let key = seed_key(&req);
    let src = binary(src_dir.path(), "rr", 100, 1);

    fs::remove_dir_all(&cache_dir).unwrap();
    let err = o.cache.store(&req, &key, &src, 1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(!cache_dir.exists());
    assert_eq!(o.cache.usage().entries, 0);
    assert!(o.cache.lookup(&key).unwrap().is_none());
    assert_eq!(fs::read(&src).unwrap().len(), 100, "source untouched");

    // A file where the directory should be: still an Io error, nothing written.
    fs::write(&cache_dir, b"not a directory").unwrap();
    let err = o.cache.store(&req, &key, &src, 1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(fs::read(&cache_dir).unwrap(), b"not a directory");
    assert_eq!(o.cache.usage(), Default::default());
}

#[test]
fn a_binary_larger_than_the_cache_is_served_from_its_source_without_caching() {
    let Fresh {
        tmp: _tmp,
        src_dir,
        o,
    } = fresh(|c| c.max_size_bytes = 100);
    let small = store_request(&o.cache, 1, &binary(src_dir.path(), "s", 50, 1)).key;
    let src = binary(src_dir.path(), "big", 101, 2);
    let a = store_request(&o.cache, 2, &src);
    assert_eq!(a.path, src);
    assert_eq!(a.size, 101);
    assert_eq!(read_all(&a.file, 101), fs::read(&src).unwrap());
    assert!(o.cache.lookup(&a.key).unwrap().is_none());
    // The small entry was not evicted for a binary that could never fit.
    assert!(o.cache.lookup(&small).unwrap().is_some());
    assert_eq!(Stats::get(&o.stats.evictions), 0);
}

#[test]
fn storing_a_key_again_replaces_the_entry() {
    let Fresh { tmp, src_dir, o } = fresh(|c| c.max_entries = 1);
    let old = store_request(&o.cache, 1, &binary(src_dir.path(), "a", 10, 1));
    let key = old.key.clone();
    let old_bytes = fs::read(src_dir.path().join("a")).unwrap();
    store_request(&o.cache, 1, &binary(src_dir.path(), "b", 20, 2));
    assert_eq!(
        Stats::get(&o.stats.evictions),
        0,
        "a replacement is no eviction"
    );
    let hit = o.cache.lookup(&key).unwrap().unwrap();
    assert_eq!(hit.size, 20);
    assert_eq!(o.cache.usage().bytes, 20);
    assert_eq!(read_all(&old.file, 10), old_bytes);
    assert_eq!(listing(tmp.path()).len(), 2);
}

#[test]
fn cleanup_evicts_entries_older_than_max_age() {
    let Fresh { tmp, src_dir, o } = fresh(|c| c.max_age = Duration::from_secs(7 * 86400));
    let old = store_request(&o.cache, 1, &binary(src_dir.path(), "a", 10, 1)).key;
    o.clock.advance(3 * 86400);
    let young = store_request(&o.cache, 2, &binary(src_dir.path(), "b", 10, 2)).key;
    // Being used does not keep an entry past its age (the seed's rule: created_at).
    o.cache.lookup(&old).unwrap().unwrap();
    o.clock.advance(4 * 86400);
    o.cache.cleanup().unwrap();
    assert_eq!(
        o.cache.usage().entries,
        2,
        "exactly max_age old is not expired"
    );
    o.clock.advance(1);
    o.cache.cleanup().unwrap();
    assert!(o.cache.lookup(&old).unwrap().is_none());
    assert!(o.cache.lookup(&young).unwrap().is_some());
    assert_eq!(Stats::get(&o.stats.evictions), 1);
    assert_eq!(listing(tmp.path()).len(), 2);
}

#[test]
fn opening_applies_lowered_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    {
        let o = open(&config(tmp.path()));
        for n in 0..5 {
            store_request(
                &o.cache,
                n,
                &binary(src_dir.path(), &format!("b{n}"), 10, 1),
            );
            o.clock.advance(1);
        }
    }
    let mut cfg = config(tmp.path());
    cfg.max_entries = 2;
    cfg.eviction_policy = velox_core::config::EvictionPolicy::Fifo;
    let o = open(&cfg);
    assert_eq!(o.cache.usage().entries, 2);
    assert_eq!(listing(tmp.path()).len(), 4);
    for n in [3, 4] {
        assert!(o.cache.lookup(&seed_key(&request(n))).unwrap().is_some());
    }
}

#[test]
fn two_caches_on_one_directory_see_each_others_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let a = open(&config(tmp.path()));
    let b = open(&config(tmp.path()));
    let key = seed_key(&request(1));
    assert!(b.cache.lookup(&key).unwrap().is_none());
    store_request(&a.cache, 1, &binary(src_dir.path(), "rr", 33, 1));
    let hit = b
        .cache
        .lookup(&key)
        .unwrap()
        .expect("b finds a's entry on disk");
    assert_eq!(hit.size, 33);
    assert_eq!(b.cache.usage().entries, 1);

    // Removed by a: b's next lookup is a miss, not an error.
    assert!(a.cache.remove(&key).unwrap());
    assert!(b.cache.lookup(&key).unwrap().is_none());
    assert_eq!(b.cache.usage().entries, 0);
    assert_eq!(read_all(&hit.file, 33).len(), 33);

    // Cleanup reconciles entries b never looked up.
    store_request(&a.cache, 2, &binary(src_dir.path(), "rr2", 5, 1));
    b.cache.cleanup().unwrap();
    assert_eq!(b.cache.usage().entries, 1);
}

#[test]
fn close_stops_the_periodic_cleanup_promptly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.cleanup_interval = Duration::from_secs(3600);
    cfg.access_update_interval = Duration::from_secs(3600);
    let o = open(&cfg);
    let started = Instant::now();
    o.cache.close();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Later calls still work.
    assert!(o.cache.lookup(&seed_key(&request(1))).unwrap().is_none());
}

#[test]
fn the_background_thread_flushes_access_statistics() {
    let Fresh { tmp, src_dir, o } = fresh(|c| c.access_update_interval = Duration::from_millis(20));
    let key = store_request(&o.cache, 1, &binary(src_dir.path(), "rr", 8, 1)).key;
    o.cache.lookup(&key).unwrap().unwrap();
    let json = tmp.path().join(format!("{key}.json"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
        if v["access_count"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not flushed within 10s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_background_thread_cleans_up_periodically() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.cleanup_interval = Duration::from_millis(20);
    let _o = open(&cfg);
    // Appears after open (as a crash of another process would leave it).
    let temp = tmp
        .path()
        .join("temp_0b7f3c1e-8a4d-4c3e-9f00-123456789abc.bin");
    fs::write(&temp, b"x").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while temp.exists() {
        assert!(Instant::now() < deadline, "not swept within 10s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn open_fails_with_io_when_the_directory_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = Cache::open(&config(&file.join("cache")), Default::default())
        .err()
        .expect("open fails");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn fixture_keys_agree_with_the_library() {
    let req = request(3);
    assert_eq!(seed_key(&req), req.key());
}

/// Collects events' fields on the current thread.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<std::collections::BTreeMap<String, String>>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct V(std::collections::BTreeMap<String, String>);
        impl tracing::field::Visit for V {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.insert(f.name().to_owned(), format!("{v:?}"));
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                self.0.insert(f.name().to_owned(), v.to_owned());
            }
        }
        let mut v = V(Default::default());
        event.record(&mut v);
        v.0.insert("level".into(), event.metadata().level().to_string());
        self.0.lock().unwrap().push(v.0);
    }
}

#[test]
fn recovery_reports_each_removed_file_with_its_reason() {
    use tracing_subscriber::layer::SubscriberExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("temp_0b7f3c1e-8a4d-4c3e-9f00-123456789abc.bin"),
        b"half",
    )
    .unwrap();
    let corrupt = seed_key(&request(4));
    write_entry(d, &corrupt, b"abc", b"not json");

    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let o = tracing::subscriber::with_default(subscriber, || open(&config(d)));
    drop(o);

    let events = captured.0.lock().unwrap().clone();
    let removed: Vec<_> = events
        .iter()
        .filter(|e| {
            e.get("message").map(String::as_str) == Some("removed from the cache directory")
        })
        .collect();
    assert_eq!(removed.len(), 3, "{events:#?}");
    assert!(removed
        .iter()
        .all(|e| e["level"] == "WARN" && e.contains_key("reason")));
    assert!(removed
        .iter()
        .any(|e| e["file"].ends_with(&format!("{corrupt}.json")) && e["reason"].contains("JSON")));
    assert!(removed.iter().any(|e| e["file"].contains("temp_")));
    let summary = events
        .iter()
        .find(|e| e.get("message").map(String::as_str) == Some("cache opened"))
        .expect("a summary line");
    assert_eq!(summary["temp_files"], "1");
    assert_eq!(summary["corrupt"], "1");
    assert_eq!(summary["entries"], "0");
}

#[test]
fn a_store_that_fails_midway_leaves_no_temp_file() {
    // /proc files claim size 0 and then yield bytes: the copy sees the source change.
    let src = Path::new("/proc/self/status");
    if !src.exists() {
        eprintln!("skipped: no /proc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = open(&config(tmp.path()));
    let req = request(1);
    let err = o.cache.store(&req, &seed_key(&req), src, 1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
    assert_eq!(o.cache.usage(), Default::default());
}

#[test]
fn store_file_takes_the_open_inode_even_if_its_path_changed() {
    use std::io::{Seek, SeekFrom};
    for ingest in [Ingest::ReflinkOrCopy, Ingest::CopyOnly] {
        let tmp = tempfile::tempdir().unwrap();
        let cache_dir = tmp.path().join("cache");
        let o = open_with(&config(&cache_dir), ingest);
        let src = binary(tmp.path(), "rr", 300, 7);
        let expected = fs::read(&src).unwrap();
        let mut file = fs::File::open(&src).unwrap();
        file.seek(SeekFrom::Start(10)).unwrap();
        // The name now points at something else; the open file is what was checked.
        fs::rename(&src, tmp.path().join("moved")).unwrap();
        fs::write(&src, b"swapped").unwrap();

        let req = request(1);
        let key = seed_key(&req);
        let a = o.cache.store_file(&req, &key, &file, &src, 1).unwrap();
        assert_eq!(read_all(&a.file, a.size), expected, "{ingest:?}");
        assert_eq!(
            fs::read(cache_dir.join(format!("{key}.bin"))).unwrap(),
            expected
        );
        assert_eq!(file.stream_position().unwrap(), 10, "caller's offset moved");
        // Always a copy of our own, never the source's inode.
        let shared = fs::metadata(cache_dir.join(format!("{key}.bin")))
            .unwrap()
            .ino()
            == file.metadata().unwrap().ino();
        assert!(!shared, "{ingest:?}");
    }
}

#[test]
fn concurrent_stores_never_exceed_the_limits() {
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<Cache>();

    let Fresh { tmp, src_dir, o } = fresh(|c| {
        c.max_entries = 3;
        c.max_size_bytes = 250;
    });
    let cache = &o.cache;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut checks = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let u = cache.usage();
                assert!(u.entries <= 3 && u.bytes <= 250, "{u:?}");
                checks += 1;
            }
            checks
        });
        let workers: Vec<_> = (0..4u32)
            .map(|t| {
                let src_dir = src_dir.path();
                s.spawn(move || {
                    for i in 0..15u32 {
                        let n = t * 100 + i;
                        let req = request(n);
                        let size = 20 + (n as usize * 7) % 80;
                        let src = binary(src_dir, &format!("b{n}"), size, n as u8);
                        let a = cache.store(&req, &seed_key(&req), &src, 1).unwrap();
                        assert_eq!(read_all(&a.file, a.size), fs::read(&src).unwrap());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(watcher.join().unwrap() > 0);
    });
    let u = o.cache.usage();
    assert!(u.entries <= 3 && u.bytes <= 250, "{u:?}");
    assert_eq!(listing(tmp.path()).len() as u64, 2 * u.entries);
    assert_eq!(Stats::get(&o.stats.evictions), 60 - u.entries);
}
