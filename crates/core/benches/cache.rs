//! The disk cache: storing a 64 MiB build (reflink and copy), and open, store (evicting
//! from a full cache), cleanup and hit as the directory grows to 100,000 entries.

use velox_testkit::bench as common;

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use velox_core::cache::{Cache, CacheOptions, Ingest};
use velox_core::stats::Stats;

const BIG: usize = 64 << 20;

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

/// Open, store, cleanup and hit in directories of 1,000, 10,000 and 100,000 seed-format
/// entries (a full cache: each store evicts one). Each directory is written once per run;
/// `VXM_BENCH_ENTRIES=1000,10000` picks the sizes (100,000 entries take a while to write).
fn scale(c: &mut Criterion) {
    let sizes: Vec<u32> = std::env::var("VXM_BENCH_ENTRIES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let mut group = c.benchmark_group("cache_scale");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for entries in sizes {
        scale_at(&mut group, entries);
    }
    group.finish();
}

fn scale_at(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    entries: u32,
) {
    let dir = common::scratch("scale-");
    let cache_dir = dir.path().join("cache");
    common::write_seed_dir(&cache_dir, entries, 64);
    let src = dir.path().join("built.bin");
    fs::write(&src, vec![0x5au8; 4096]).unwrap();
    let cfg = common::cache_config(&cache_dir, u64::from(entries));

    group.bench_function(format!("open/{entries}"), |b| {
        b.iter(|| {
            let cache = open(&cfg, Ingest::ReflinkOrCopy);
            assert_eq!(cache.usage().entries, u64::from(entries));
            cache.close();
        })
    });

    let cache = open(&cfg, Ingest::ReflinkOrCopy);
    let mut n = entries;
    group.bench_function(format!("store/{entries}"), |b| {
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

    group.bench_function(format!("cleanup/{entries}"), |b| {
        b.iter(|| cache.cleanup().unwrap())
    });

    let key = common::request(n, 2).key();
    group.bench_function(format!("hit/{entries}"), |b| {
        b.iter(|| cache.lookup(&key).unwrap().expect("a hit"))
    });
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

criterion_group!(benches, store_64mib, scale, verify_64mib);
criterion_main!(benches);
