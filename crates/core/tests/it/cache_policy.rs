//! Eviction against a model: for random sequences of stores, hits and clock moves, the
//! cache holds exactly the entries a plain list with the written-down policy rules
//! holds, and never exceeds its limits.

use velox_testkit::cache_fixture as fixture;

use std::collections::BTreeSet;

use fixture::*;
use proptest::prelude::*;
use velox_core::cache::Clock;
use velox_core::config::EvictionPolicy;
use velox_core::request::CacheKey;

const MAX_ENTRIES: u64 = 3;
const MAX_BYTES: u64 = 100;
const KEYS: u32 = 4;

#[derive(Debug, Clone)]
enum Op {
    Store { n: u32, size: u64 },
    Hit { n: u32 },
    Advance { secs: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..KEYS, 1..60u64).prop_map(|(n, size)| Op::Store { n, size }),
        3 => (0..KEYS).prop_map(|n| Op::Hit { n }),
        2 => (0..3i64).prop_map(|secs| Op::Advance { secs }),
    ]
}

/// One cached entry as the model sees it. `*_seq` orders events that share a second.
#[derive(Debug, Clone)]
struct M {
    n: u32,
    size: u64,
    created: i64,
    created_seq: u64,
    last: i64,
    last_seq: u64,
    count: u64,
}

struct Model {
    policy: EvictionPolicy,
    entries: Vec<M>,
    seq: u64,
}

impl Model {
    fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// The entry the policy names first.
    fn victim(&self) -> usize {
        let key = |e: &M| match self.policy {
            EvictionPolicy::Lru => (0, e.last, e.last_seq),
            EvictionPolicy::Lfu => (e.count as i64, e.last, e.last_seq),
            EvictionPolicy::Fifo => (0, e.created, e.created_seq),
        };
        (0..self.entries.len())
            .min_by_key(|&i| key(&self.entries[i]))
            .unwrap()
    }

    fn store(&mut self, n: u32, size: u64, now: i64) -> u64 {
        if size > MAX_BYTES {
            return 0;
        }
        self.entries.retain(|e| e.n != n);
        let mut evicted = 0;
        while self.entries.len() as u64 + 1 > MAX_ENTRIES || self.bytes() + size > MAX_BYTES {
            let v = self.victim();
            self.entries.remove(v);
            evicted += 1;
        }
        self.seq += 1;
        self.entries.push(M {
            n,
            size,
            created: now,
            created_seq: self.seq,
            last: now,
            last_seq: self.seq,
            count: 1,
        });
        evicted
    }

    fn hit(&mut self, n: u32, now: i64) -> bool {
        self.seq += 1;
        let seq = self.seq;
        match self.entries.iter_mut().find(|e| e.n == n) {
            Some(e) => {
                e.last = now;
                e.last_seq = seq;
                e.count += 1;
                true
            }
            None => false,
        }
    }

    fn keys(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .map(|e| seed_key(&request(e.n)).as_str().to_owned())
            .collect()
    }
}

fn cached_keys(dir: &std::path::Path) -> BTreeSet<String> {
    listing(dir)
        .into_iter()
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .filter(|k| CacheKey::parse(k).is_some())
        .collect()
}

fn run(policy: EvictionPolicy, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.eviction_policy = policy;
    cfg.max_entries = MAX_ENTRIES;
    cfg.max_size_bytes = MAX_BYTES;
    let o = open(&cfg);
    let mut model = Model {
        policy,
        entries: Vec::new(),
        seq: 0,
    };
    let mut evictions = 0;
    for (i, op) in ops.into_iter().enumerate() {
        let now = o.clock.now();
        match op {
            Op::Store { n, size } => {
                let req = request(n);
                let src = binary(src_dir.path(), &format!("src{i}"), size as usize, i as u8);
                o.cache.store(&req, &seed_key(&req), &src, 1).unwrap();
                evictions += model.store(n, size, now);
            }
            Op::Hit { n } => {
                let hit = o.cache.lookup(&seed_key(&request(n))).unwrap().is_some();
                prop_assert_eq!(hit, model.hit(n, now), "hit of {} at op {}", n, i);
            }
            Op::Advance { secs } => o.clock.advance(secs),
        }
        let usage = o.cache.usage();
        prop_assert!(usage.entries <= MAX_ENTRIES && usage.bytes <= MAX_BYTES);
        prop_assert_eq!(usage.entries, model.entries.len() as u64);
        prop_assert_eq!(usage.bytes, model.bytes());
        prop_assert_eq!(cached_keys(tmp.path()), model.keys(), "after op {}", i);
        prop_assert_eq!(velox_core::stats::Stats::get(&o.stats.evictions), evictions);
        // Binaries and metadata come in pairs; nothing temporary stays.
        prop_assert_eq!(listing(tmp.path()).len(), 2 * model.entries.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn lru_evicts_the_least_recently_used(ops in prop::collection::vec(op(), 1..40)) {
        run(EvictionPolicy::Lru, ops)?;
    }

    #[test]
    fn lfu_evicts_the_least_frequently_used_then_least_recent(ops in prop::collection::vec(op(), 1..40)) {
        run(EvictionPolicy::Lfu, ops)?;
    }

    #[test]
    fn fifo_evicts_the_oldest_created(ops in prop::collection::vec(op(), 1..40)) {
        run(EvictionPolicy::Fifo, ops)?;
    }
}
