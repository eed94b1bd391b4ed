//! The whole cache as a state machine against a plain model: random sequences of store,
//! lookup, remove, time passing, cleanup, flush and reopen (close, then open the same
//! directory again). After every step the cache holds exactly the model's entries, with
//! the model's bytes, the limits hold, the entry a store or cleanup evicted is the one
//! the policy names, the directory holds exactly one `.bin` and one `.json` per entry, and
//! a lookup serves the bytes that were stored.
//!
//! What a reopen keeps is part of the model: creation times and the access statistics
//! written at close survive; the order of events within one second does not (entries read
//! from disk tie on it and are then ordered by key).

use velox_testkit::cache_fixture as fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fixture::*;
use proptest::prelude::*;
use velox_core::cache::{Cache, Clock, Ingest, ManualClock};
use velox_core::config::{CacheConfig, EvictionPolicy};
use velox_core::stats::Stats;

const MAX_ENTRIES: u64 = 3;
const MAX_BYTES: u64 = 100;
const MAX_AGE_SECS: i64 = 6;
const KEYS: u32 = 5;

#[derive(Debug, Clone)]
enum Op {
    Store { n: u32, size: u64 },
    Lookup { n: u32 },
    Remove { n: u32 },
    Advance { secs: i64 },
    Cleanup,
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Sizes past MAX_BYTES are served without caching and leave the cache alone.
        4 => (0..KEYS, prop_oneof![9 => 0..60u64, 1 => 101..130u64])
            .prop_map(|(n, size)| Op::Store { n, size }),
        4 => (0..KEYS).prop_map(|n| Op::Lookup { n }),
        1 => (0..KEYS).prop_map(|n| Op::Remove { n }),
        2 => (0..4i64).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Cleanup),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

/// One entry as the model sees it. `*_seq` orders events within one process; entries
/// read back from disk have 0 there.
#[derive(Debug, Clone)]
struct M {
    n: u32,
    key: String,
    size: u64,
    content_seed: u8,
    created: i64,
    created_seq: u64,
    last: i64,
    last_seq: u64,
    count: u64,
    /// What the metadata file says about accesses (written at store, flush and close).
    saved_last: i64,
    saved_count: u64,
}

struct Model {
    policy: EvictionPolicy,
    entries: Vec<M>,
    seq: u64,
}

type Rank = (u64, i64, u64, i64, u64, String);

impl Model {
    fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// The written-down policy: lru = oldest access; lfu = fewest accesses, then lru;
    /// fifo = oldest creation; then creation, then key, so that the choice is total.
    fn rank(&self, e: &M) -> Rank {
        match self.policy {
            EvictionPolicy::Lru => (
                0,
                e.last,
                e.last_seq,
                e.created,
                e.created_seq,
                e.key.clone(),
            ),
            EvictionPolicy::Lfu => (
                e.count,
                e.last,
                e.last_seq,
                e.created,
                e.created_seq,
                e.key.clone(),
            ),
            EvictionPolicy::Fifo => (0, e.created, e.created_seq, 0, 0, e.key.clone()),
        }
    }

    fn evict_one(&mut self) -> M {
        let v = (0..self.entries.len())
            .min_by_key(|&i| self.rank(&self.entries[i]))
            .expect("something to evict");
        self.entries.remove(v)
    }

    fn store(&mut self, n: u32, key: String, size: u64, seed: u8, now: i64) -> Vec<M> {
        if size > MAX_BYTES {
            return Vec::new();
        }
        self.entries.retain(|e| e.n != n);
        let mut evicted = Vec::new();
        while self.entries.len() as u64 + 1 > MAX_ENTRIES || self.bytes() + size > MAX_BYTES {
            evicted.push(self.evict_one());
        }
        self.seq += 1;
        self.entries.push(M {
            n,
            key,
            size,
            content_seed: seed,
            created: now,
            created_seq: self.seq,
            last: now,
            last_seq: self.seq,
            count: 1,
            saved_last: now,
            saved_count: 1,
        });
        evicted
    }

    fn lookup(&mut self, n: u32, now: i64) -> Option<M> {
        self.seq += 1;
        let seq = self.seq;
        let e = self.entries.iter_mut().find(|e| e.n == n)?;
        e.last = now;
        e.last_seq = seq;
        e.count += 1;
        Some(e.clone())
    }

    fn remove(&mut self, n: u32) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.n != n);
        before != self.entries.len()
    }

    fn flush(&mut self) {
        for e in &mut self.entries {
            e.saved_last = e.last;
            e.saved_count = e.count;
        }
    }

    /// Cleanup (and open): entries created more than max_age ago go; the limits already
    /// hold, so nothing else does.
    fn expire(&mut self, now: i64) -> u64 {
        let before = self.entries.len();
        self.entries.retain(|e| e.created >= now - MAX_AGE_SECS);
        (before - self.entries.len()) as u64
    }

    /// Close flushes; open reads the files back: the in-process order is gone.
    fn reopen(&mut self, now: i64) -> u64 {
        self.flush();
        for e in &mut self.entries {
            e.last = e.saved_last;
            e.count = e.saved_count;
            e.created_seq = 0;
            e.last_seq = 0;
        }
        self.expire(now)
    }

    fn keys(&self) -> BTreeSet<String> {
        self.entries.iter().map(|e| e.key.clone()).collect()
    }
}

fn cfg(dir: &Path, policy: EvictionPolicy) -> CacheConfig {
    let mut c = config(dir);
    c.eviction_policy = policy;
    c.max_entries = MAX_ENTRIES;
    c.max_size_bytes = MAX_BYTES;
    c.max_age = Duration::from_secs(MAX_AGE_SECS as u64);
    c
}

fn open_cache(cfg: &CacheConfig, clock: &Arc<ManualClock>) -> (Cache, Arc<Stats>) {
    let o = open_on_clock(cfg, Ingest::ReflinkOrCopy, clock.clone());
    (o.cache, o.stats)
}

fn content(size: u64, seed: u8) -> Vec<u8> {
    (0..size as usize)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn key_of(n: u32) -> String {
    seed_key(&request(n)).as_str().to_owned()
}

fn run(policy: EvictionPolicy, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let cfg = cfg(tmp.path(), policy);
    let clock = Arc::new(ManualClock::starting_now());
    let (mut cache, mut stats) = open_cache(&cfg, &clock);
    let mut model = Model {
        policy,
        entries: Vec::new(),
        seq: 0,
    };
    let mut evictions = 0u64;

    for (i, op) in ops.into_iter().enumerate() {
        let now = clock.now();
        match op {
            Op::Store { n, size } => {
                let req = request(n);
                let seed = i as u8;
                let src = binary(src_dir.path(), &format!("src{i}"), size as usize, seed);
                let art = cache.store(&req, &seed_key(&req), &src, 1).unwrap();
                prop_assert_eq!(art.size, size);
                prop_assert_eq!(read_all(&art.file, size), content(size, seed));
                let gone = model.store(n, key_of(n), size, seed, now);
                evictions += gone.len() as u64;
                // The named victims, and only they, left the directory.
                let on_disk = cached_keys(tmp.path());
                for v in &gone {
                    prop_assert!(
                        !on_disk.contains(&v.key),
                        "op {}: victim {} still cached",
                        i,
                        v.n
                    );
                }
            }
            Op::Lookup { n } => {
                let got = cache.lookup(&seed_key(&request(n))).unwrap();
                let want = model.lookup(n, now);
                prop_assert_eq!(got.is_some(), want.is_some(), "op {}: lookup of {}", i, n);
                if let (Some(art), Some(m)) = (got, want) {
                    prop_assert_eq!(art.size, m.size);
                    prop_assert_eq!(
                        read_all(&art.file, art.size),
                        content(m.size, m.content_seed)
                    );
                }
            }
            Op::Remove { n } => {
                let removed = cache.remove(&seed_key(&request(n))).unwrap();
                prop_assert_eq!(removed, model.remove(n), "op {}: remove of {}", i, n);
            }
            Op::Advance { secs } => clock.advance(secs),
            Op::Cleanup => {
                cache.cleanup().unwrap();
                evictions += model.expire(now);
            }
            Op::Flush => {
                cache.flush().unwrap();
                model.flush();
            }
            Op::Reopen => {
                drop(cache);
                (cache, stats) = open_cache(&cfg, &clock);
                evictions = model.reopen(now);
            }
        }

        let usage = cache.usage();
        prop_assert!(
            usage.entries <= MAX_ENTRIES && usage.bytes <= MAX_BYTES,
            "op {}: limits",
            i
        );
        prop_assert_eq!(
            usage.entries,
            model.entries.len() as u64,
            "op {}: entries",
            i
        );
        prop_assert_eq!(usage.bytes, model.bytes(), "op {}: bytes", i);
        prop_assert_eq!(cached_keys(tmp.path()), model.keys(), "op {}: {:?}", i, op);
        prop_assert_eq!(
            Stats::get(&stats.evictions),
            evictions,
            "op {}: evictions",
            i
        );
        // One binary and one metadata file per entry; nothing temporary stays behind.
        let names = listing(tmp.path());
        prop_assert_eq!(
            names.len(),
            2 * model.entries.len(),
            "op {}: {:?}",
            i,
            names
        );
        for e in &model.entries {
            let meta = std::fs::metadata(tmp.path().join(format!("{}.bin", e.key))).unwrap();
            prop_assert_eq!(meta.len(), e.size);
        }
    }
    Ok(())
}

fn cached_keys(dir: &Path) -> BTreeSet<String> {
    listing(dir)
        .into_iter()
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    // PROPTEST_CASES raises the count for a longer run.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn lru_cache_matches_the_model_across_reopens(ops in prop::collection::vec(op(), 1..60)) {
        run(EvictionPolicy::Lru, ops)?;
    }

    #[test]
    fn lfu_cache_matches_the_model_across_reopens(ops in prop::collection::vec(op(), 1..60)) {
        run(EvictionPolicy::Lfu, ops)?;
    }

    #[test]
    fn fifo_cache_matches_the_model_across_reopens(ops in prop::collection::vec(op(), 1..60)) {
        run(EvictionPolicy::Fifo, ops)?;
    }
}
