//! The engine: one configuration, one cache, one resolver, shared by every host thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio_util::sync::CancellationToken;

use crate::artifact::Artifact;
use crate::cache::{Cache, CacheOptions};
use crate::cancel::Cancel;
use crate::config::{BuildPath, Config};
use crate::error::{Error, Result};
use crate::health::Health;
use crate::local::{check_go, GO_VERSION_TIMEOUT};
use crate::request::{BuildRequest, CacheKey};
use crate::resolve::respond::{Prefer, Resolved};
use crate::resolve::Resolver;
use crate::runtime::runtime;
use crate::stats::Stats;

pub struct Engine {
    config: Arc<Config>,
    cache: Option<Arc<Cache>>,
    resolver: Resolver,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
    /// Set by `drain` (the host has begun to stop) and `shutdown`: no longer ready.
    stopping: AtomicBool,
    calls: CallGate,
}

impl Engine {
    pub fn new(config_json: &[u8]) -> Result<Engine> {
        let config = Arc::new(Config::from_json(config_json)?);
        if let Some(level) = &config.log_level {
            crate::logging::set_level(level)?;
        }
        // Before the cache is opened: a configuration without a build path is refused
        // without touching the disk, and a missing go is found now, not at the first miss.
        if config.build_path()? == BuildPath::Local {
            let version = check_go(&config.local.go_binary, GO_VERSION_TIMEOUT)?;
            tracing::info!(go = %version, go_binary = %config.local.go_binary.display(), "local builds enabled");
        }
        let stats = Arc::new(Stats::default());
        let cache = if config.cache.enabled {
            let opts = CacheOptions {
                verify_builds: config.verify_builds,
                ..CacheOptions::default()
            };
            Some(Arc::new(Cache::open_with(
                &config.cache,
                stats.clone(),
                opts,
            )?))
        } else {
            None
        };
        let shutdown = CancellationToken::new();
        let resolver = Resolver::new(
            config.clone(),
            cache.clone(),
            stats.clone(),
            shutdown.clone(),
        )?;
        Ok(Engine {
            config,
            cache,
            resolver,
            stats,
            shutdown,
            stopping: AtomicBool::new(false),
            calls: CallGate::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Blocks the calling thread until the binary is ready or the call ends otherwise.
    pub fn resolve(&self, request_json: &[u8], cancel: Option<&Cancel>) -> Result<Artifact> {
        self.answer(request_json, None, cancel)?.ready()
    }

    /// As [`Engine::resolve`], but answers [`Resolved::Pending`] for a build still running
    /// after `respond_after` or what `prefer` (the request's `Prefer` header values,
    /// joined with commas; empty when there are none) asks for.
    pub fn resolve_or_pending(
        &self,
        request_json: &[u8],
        prefer: &str,
        cancel: Option<&Cancel>,
    ) -> Result<Resolved> {
        self.answer(request_json, Some(Prefer::parse(prefer)), cancel)
    }

    /// Both resolves; `prefer` is `None` for a caller that cannot take a `Pending`.
    fn answer(
        &self,
        request_json: &[u8],
        prefer: Option<Prefer>,
        cancel: Option<&Cancel>,
    ) -> Result<Resolved> {
        let _call = self.calls.enter()?;
        let request = BuildRequest::parse(request_json)?;
        if cancel.is_some_and(Cancel::is_triggered) {
            return Err(Error::Cancelled);
        }
        // The host's thread blocks anyway: a hit is served from it without waking the runtime.
        if let Some(hit) = self.resolver.cached(&request) {
            return Ok(Resolved::Ready(hit));
        }
        let missed = self
            .resolver
            .resolve_missed(request, cancel.cloned(), prefer);
        runtime().block_on(missed)
    }

    /// `Err(NotFound)` on a miss or when the cache is disabled.
    pub fn lookup(&self, request_json: &[u8]) -> Result<Artifact> {
        let _call = self.calls.enter()?;
        let request = BuildRequest::parse(request_json)?;
        let cache = self.cache.as_ref().ok_or(Error::NotFound)?;
        let found = cache.lookup(&request.key())?;
        match found {
            Some(artifact) => {
                Stats::bump(&self.stats.hits);
                Ok(artifact)
            }
            None => {
                Stats::bump(&self.stats.misses);
                Err(Error::NotFound)
            }
        }
    }

    pub fn store(
        &self,
        request_json: &[u8],
        binary: &std::path::Path,
        build_ms: u64,
    ) -> Result<Artifact> {
        let _call = self.calls.enter()?;
        let request = BuildRequest::parse(request_json)?;
        let cache = self.cache_or_disabled("cache.enabled")?;
        cache.store(&request, &request.key(), binary, build_ms)
    }

    pub fn remove(&self, key: &str) -> Result<bool> {
        let _call = self.calls.enter()?;
        let key = CacheKey::parse(key)
            .ok_or_else(|| Error::request("key", "must be 64 lowercase hex characters"))?;
        self.cache_or_disabled("cache.enabled")?.remove(&key)
    }

    pub fn cleanup(&self) -> Result<()> {
        let _call = self.calls.enter()?;
        match &self.cache {
            Some(cache) => cache.cleanup(),
            None => Ok(()),
        }
    }

    pub fn stats_json(&self) -> Result<String> {
        let usage = self.cache.as_ref().map(|c| c.usage()).unwrap_or_default();
        let dir = self.cache.as_ref().and_then(|c| c.directory_usage());
        let s = &self.stats;
        let json = serde_json::json!({
            // This process's index of the cache directory (what it has stored, found or
            // been told of at its last store or cleanup).
            "entries": usage.entries,
            "bytes": usage.bytes,
            // The whole directory, every process sharing it, as of the last store or
            // cleanup in any of them (`dir_updated_at`, unix seconds); null before one.
            "dir_entries": dir.map(|d| d.entries),
            "dir_bytes": dir.map(|d| d.bytes),
            "dir_updated_at": dir.map(|d| d.updated_at),
            "hits": Stats::get(&s.hits),
            "misses": Stats::get(&s.misses),
            "builds": Stats::get(&s.builds),
            "joined": Stats::get(&s.joined),
            "joined_after_leave": Stats::get(&s.joined_after_leave),
            "async_answers": Stats::get(&s.async_answers),
            "builds_unwatched_done": Stats::get(&s.builds_unwatched_done),
            "linger_expired": Stats::get(&s.linger_expired),
            "failures_replayed": Stats::get(&s.failures_replayed),
            "builds_refused": Stats::get(&s.builds_refused),
            "pickups_held": Stats::get(&s.pickups_held),
            "pickups_served": Stats::get(&s.pickups_served),
            "pickups_dropped": Stats::get(&s.pickups_dropped),
            "evictions": Stats::get(&s.evictions),
            "provenance_mismatches": Stats::get(&s.provenance_mismatches),
            "upstream_errors": Stats::get(&s.upstream_errors),
            // Process-wide: a hostile name belongs to the directory, not to one engine.
            "foreign_files": crate::cache::foreign_files(),
            "cache_enabled": self.cache.is_some(),
            // Beyond docs/ABI.md's minimum: what the Prometheus metrics are made of.
            "builds_in_flight": self.resolver.builds_in_flight(),
            "builds_queued": self.resolver.builds_queued(),
            "builds_failed": s.builds_failed.snapshot(),
            "evictions_by_reason": s.evictions_by_reason.snapshot(),
            "upstream_errors_by_code": s.upstream_errors_by_code.snapshot(),
            "build_duration": s.build_duration.snapshot(),
            "remote": s.remote.snapshot(),
        });
        Ok(json.to_string())
    }

    /// Health and readiness for a host's health checks (see `crate::health`). With the
    /// cache enabled this creates and removes a small file in its directory.
    pub fn health(&self) -> Health {
        let build_path = self.resolver.builder_name();
        let stopping = self.stopping.load(Ordering::Acquire) || self.shutdown.is_cancelled();
        Health::new(
            build_path,
            stopping,
            self.cache.as_ref().map(|c| c.directory()),
        )
    }

    /// Before shutdown: with `keep_abandoned_builds`, waits up to `timeout` for the
    /// builds in flight to finish into the cache (their clients may be gone already);
    /// without it returns at once, and `shutdown` cancels them. Returns the builds still
    /// in flight.
    pub fn drain(&self, timeout: std::time::Duration) -> usize {
        self.stopping.store(true, Ordering::Release);
        crate::shutdown::drain(self.config.keep_abandoned_builds, timeout, || {
            self.resolver.builds_in_flight()
        })
    }

    /// Ends every call in flight with `ShuttingDown`, waits for them to leave, then
    /// flushes the cache. Called once, by `vxm_engine_free`.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.shutdown.cancel();
        self.calls.close_and_wait();
        if let Some(cache) = &self.cache {
            cache.close();
        }
    }

    fn cache_or_disabled(&self, key: &str) -> Result<&Arc<Cache>> {
        self.cache
            .as_ref()
            .ok_or_else(|| Error::config(key, "the cache is disabled"))
    }
}

/// Counts the calls inside the engine so that `shutdown` can wait for them to leave
/// before the handle's memory is freed under them.
#[derive(Default)]
struct CallGate {
    state: Mutex<GateState>,
    left: Condvar,
}

#[derive(Default)]
struct GateState {
    active: usize,
    closed: bool,
}

struct CallGuard<'a>(&'a CallGate);

impl CallGate {
    fn enter(&self) -> Result<CallGuard<'_>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Error::ShuttingDown);
        }
        state.active += 1;
        Ok(CallGuard(self))
    }

    fn close_and_wait(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        while state.active > 0 {
            self.left.wait(&mut state);
        }
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.active -= 1;
        if state.active == 0 {
            self.0.left.notify_all();
        }
    }
}
