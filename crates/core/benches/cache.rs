//! The disk cache: storing a 64 MiB build (hardlink and copy), opening a directory of
//! 10,000 entries, and a store that must evict in a full 1,000- and 10,000-entry cache.

use velox_testkit::bench as common;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use velox_core::cache::{Cache, CacheOptions, Ingest};
use velox_core::stats::Stats;

const BIG: usize = 64 << 20;
const ENTRIES: u32 = 10_000;

fn open(cfg: &velox_core::config::CacheConfig, ingest: Ingest) -> Cache {
    Cache::open_with(
        cfg,
        Arc::new(Stats::default()),
        CacheOptions {
            ingest,
            ..CacheOptions::default()
        },
    )
    .expect("cache opens")
}

fn store_64mib(c: &mut Criterion) {
    let dir = common::scratch("store-");
    let src = dir.path().join("built.bin");
    fs::write(&src, vec![0x5au8; BIG]).unwrap();
    let req = common::request(1, 3);
    let key = req.key();

    let mut group = c.benchmark_group("store_64MiB");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, ingest) in [
        ("reflink_or_copy", Ingest::ReflinkOrCopy),
        ("copy", Ingest::CopyOnly),
    ] {
        let cache = open(
            &common::cache_config(&dir.path().join(format!("cache-{name}")), 0),
            ingest,
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    cache.remove(&key).unwrap();
                },
                |()| cache.store(&req, &key, &src, 1).unwrap(),
                BatchSize::PerIteration,
            )
        });
        cache.close();
    }
    group.finish();
}

fn open_10k(c: &mut Criterion) {
    let dir = common::scratch("open10k-");
    let cache_dir = dir.path().join("cache");
    common::write_seed_dir(&cache_dir, ENTRIES, 64);
    let cfg = common::cache_config(&cache_dir, 0);

    let mut group = c.benchmark_group("cache_open");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("10000_entries", |b| {
        b.iter(|| {
            let cache = open(&cfg, Ingest::ReflinkOrCopy);
            assert_eq!(cache.usage().entries, u64::from(ENTRIES));
            cache.close();
        })
    });
    group.finish();
}

/// A store into a full cache re-reads the whole directory under the store lock (limits
/// hold across processes sharing it), so its cost grows with the number of entries.
fn store_evicting(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_evicting");
    group.sample_size(20);
    for entries in [1_000, ENTRIES] {
        store_evicting_in(&mut group, entries);
    }
    group.finish();
}

fn store_evicting_in(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    entries: u32,
) {
    let dir = common::scratch("evict-");
    let cache_dir = dir.path().join("cache");
    common::write_seed_dir(&cache_dir, entries, 64);
    let src = dir.path().join("built.bin");
    fs::write(&src, vec![0x5au8; 4096]).unwrap();
    let cache = open(
        &common::cache_config(&cache_dir, u64::from(entries)),
        Ingest::ReflinkOrCopy,
    );
    assert_eq!(cache.usage().entries, u64::from(entries));

    let mut n = entries;
    group.bench_function(format!("{entries}_entries_full"), |b| {
        b.iter_batched(
            || {
                n += 1;
                let req = common::request(n, 2);
                let key = req.key();
                (req, key)
            },
            |(req, key)| cache.store(&req, &key, &src, 1).unwrap(),
            BatchSize::PerIteration,
        )
    });
    assert_eq!(cache.usage().entries, u64::from(entries));
    cache.close();
}

/// Verifying a 64 MiB binary's build information against its request: what a binary
/// entering the cache pays once (budget 5 ms; hits pay nothing).
fn verify_64mib(c: &mut Criterion) {
    let dir = common::scratch("verify-");
    let req = common::request(1, 3);
    let src = dir.path().join("built.bin");
    let exe = velox_testkit::go_exe::GoExe::for_request(&req).padded_to(BIG);
    fs::write(&src, exe.to_bytes()).unwrap();
    let file = fs::File::open(&src).unwrap();
    c.bench_function("verify_64MiB", |b| {
        b.iter(|| velox_core::provenance::check(&file, &req).unwrap())
    });
}

criterion_group!(benches, store_64mib, open_10k, store_evicting, verify_64mib);
criterion_main!(benches);
