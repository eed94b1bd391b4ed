//! Request -> artifact: cache, coalescing of identical builds, upstream, safe ingest.
//!
//! A resolve looks in the cache (unless `force_rebuild`), then joins an identical build
//! in flight (`coalesce.rs`) or starts one: the build task calls Velox with retries
//! (`crate::upstream`), takes the binary it names (`ingest.rs`) and stores it in the
//! cache. The caller waits for that task, its cancel token, the engine's shutdown token
//! and its own `build_timeout`, whichever comes first.
//!
//! Processes sharing a cache directory build each key once between them: the builder
//! holds a lease file there and the others wait for its entry (`shared_build.rs`).
//!
//! With `local_build_enabled` (and no `server_url`) the build task uses the embedded local builder
//! (`crate::local`) instead of Velox (`builder.rs`); everything else (coalescing,
//! cancellation, the cache, the counters) is the same.
//!
//! Hosts look in the cache on their own thread ([`Resolver::cached`]) and enter the
//! runtime only for a miss ([`Resolver::resolve_missed`]); there is no other way in.

mod builder;
pub mod coalesce;
pub mod estimate;
pub mod failures;
pub mod ingest;
pub mod linger;
pub mod respond;
mod shared_build;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::artifact::{Artifact, Source};
use crate::cache::Cache;
use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::request::{BuildRequest, CacheKey};
use crate::stats::Stats;
use builder::{blocking, Builder};
use coalesce::{InFlight, Role};
use estimate::Estimates;
use ingest::AllowedDir;
use linger::Abandon;
use respond::{Pending, Prefer, Resolved};

pub struct Resolver {
    shared: Arc<Shared>,
    in_flight: InFlight,
}

/// What a build task needs after its caller may have gone.
struct Shared {
    config: Arc<Config>,
    cache: Option<Arc<Cache>>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
    builder: Builder,
    allowed: Vec<AllowedDir>,
    /// The shared object-storage tier (`cache.remote`), only with a local cache.
    remote: Option<Arc<crate::remote::RemoteTier>>,
    /// Recent build times by target, for the `Retry-After` of a `202`.
    estimates: Estimates,
}

impl Resolver {
    pub fn new(
        config: Arc<Config>,
        cache: Option<Arc<Cache>>,
        stats: Arc<Stats>,
        shutdown: CancellationToken,
    ) -> Result<Resolver> {
        let builder = Builder::new(&config)?;
        let stats_for_map = stats.clone();
        let allowed = config
            .allowed_build_dirs
            .iter()
            .map(|d| AllowedDir::new(d))
            .collect();
        let remote = match (&config.remote, &cache) {
            (Some(r), Some(_)) => Some(Arc::new(
                crate::remote::RemoteTier::new(r, config.build_timeout, stats.clone())?
                    .verifying(config.verify_builds),
            )),
            (Some(_), None) => {
                tracing::warn!("cache.remote needs cache.enabled: the remote tier is off");
                None
            }
            _ => None,
        };
        Ok(Resolver {
            shared: Arc::new(Shared {
                config,
                cache,
                stats,
                shutdown,
                builder,
                allowed,
                remote,
                estimates: Estimates::default(),
            }),
            in_flight: InFlight::new(stats_for_map),
        })
    }

    /// What builds the binaries: `velox` or `local` (health reports).
    pub fn builder_name(&self) -> &'static str {
        self.shared.builder.name()
    }

    /// Builds in flight right now (diagnostics and tests).
    pub fn builds_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Callers waiting for the build of `key` in flight, if there is one.
    pub fn waiters(&self, key: &CacheKey) -> Option<usize> {
        self.in_flight.waiters(key)
    }

    /// The cache alone, on the calling thread: a hit (counted) or `None` (nothing
    /// counted) for a miss, `force_rebuild` or a disabled cache. Hosts block their own
    /// thread anyway, so a hit needs no hop through the runtime; after `None`, finish
    /// with [`Resolver::resolve_missed`].
    pub fn cached(&self, req: &BuildRequest) -> Option<Artifact> {
        if req.force_rebuild {
            return None;
        }
        let hit = self.shared.lookup_blocking(&req.key())?;
        Stats::bump(&self.shared.stats.hits);
        Some(hit)
    }

    /// A request that [`Resolver::cached`] did not find: counts the miss, then joins an
    /// identical build in flight or starts one. With `prefer`, a build still running
    /// after `respond_after` (or what the client's `Prefer` asks, see `respond.rs`) is
    /// answered with a [`Pending`] and goes on into the cache; without it the caller
    /// waits for the end. Returns `Cancelled` when `cancel` fires, `ShuttingDown` when
    /// the engine's shutdown token fires, `Timeout` after `build_timeout`.
    pub async fn resolve_missed(
        &self,
        req: BuildRequest,
        cancel: Option<Cancel>,
        prefer: Option<Prefer>,
    ) -> Result<Resolved> {
        let build_timeout = self.shared.config.build_timeout;
        let deadline = Instant::now() + build_timeout;
        let key = req.key();
        let span = tracing::info_span!("resolve", key = %key, rr_version = %req.rr_version);
        let cancel = cancel.map(|c| c.token().clone()).unwrap_or_default();
        let work = self.resolve_inner(req, key, deadline, prefer);
        async {
            tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled() => Err(Error::ShuttingDown),
                _ = cancel.cancelled() => {
                    tracing::debug!("cancelled by the caller");
                    Err(Error::Cancelled)
                }
                _ = tokio::time::sleep_until(deadline) => Err(Error::Timeout {
                    seconds: build_timeout.as_secs(),
                }),
                result = work => result,
            }
        }
        .instrument(span)
        .await
    }

    async fn resolve_inner(
        &self,
        req: BuildRequest,
        key: CacheKey,
        deadline: Instant,
        prefer: Option<Prefer>,
    ) -> Result<Resolved> {
        let shared = &self.shared;
        // Hits and misses count lookups: none with `force_rebuild` or without a cache.
        if !req.force_rebuild && shared.cache.is_some() {
            Stats::bump(&shared.stats.misses);
        }

        let abandon = Abandon::from_config(&shared.config);
        let target = estimate::target(&req.target_platform.os, &req.target_platform.arch);
        // A forced rebuild is asked for on purpose: it never gets an old failure.
        let replay = !req.force_rebuild;
        let started = self
            .in_flight
            .join_or_start(&key, abandon, replay, |finisher| {
                let shared = shared.clone();
                let key = key.clone();
                let span = tracing::info_span!("build", key = %key, rr_version = %req.rr_version);
                let queue = finisher.queue_ticket();
                let task = async move {
                    let outcome = shared.build(&req, &key, deadline, &queue).await;
                    finisher.finish(outcome.map_err(Arc::new));
                };
                tokio::spawn(task.instrument(span)).abort_handle()
            });
        let mut ticket = match started {
            Ok(ticket) => ticket,
            Err(remembered) => {
                tracing::info!(
                    "answering a recent failure of this build instead of building again"
                );
                return Err(coalesce::duplicate(&remembered));
            }
        };
        let joined = ticket.role() == Role::Joiner;
        if joined {
            Stats::bump(&shared.stats.joined);
            tracing::debug!("joined a build in flight");
        }
        let wait = prefer.and_then(|p| {
            respond::answer_after(shared.config.respond_after, p).map(|after| (after, p))
        });
        let outcome = match wait {
            None => ticket.outcome().await,
            Some((after, prefer)) => tokio::select! {
                biased;
                outcome = ticket.outcome() => outcome,
                _ = tokio::time::sleep(after) => {
                    ticket.keep();
                    Stats::bump(&shared.stats.async_answers);
                    let elapsed_ms = ticket.started().elapsed().as_millis() as u64;
                    let pending = Pending {
                        key: key.clone(),
                        elapsed_ms,
                        position: shared.queue_position(ticket.queue_ticket()),
                        retry_after_secs: shared.estimates.retry_after(&target, elapsed_ms),
                        preference_applied: prefer.respond_async,
                    };
                    tracing::info!(elapsed_ms, retry_after = pending.retry_after_secs,
                        "build still running; answering 202");
                    return Ok(Resolved::Pending(pending));
                }
            },
        };
        match outcome {
            Ok(artifact) if joined => Ok(Resolved::Ready(
                private_copy(artifact).with_source(Source::Joined),
            )),
            Ok(artifact) => Ok(Resolved::Ready(artifact)),
            Err(err) => Err(coalesce::duplicate(&err)),
        }
    }
}

impl Shared {
    /// [`lookup_in`] off the async threads.
    async fn lookup(&self, key: &CacheKey) -> Option<Artifact> {
        let (cache, key) = (self.cache.clone()?, key.clone());
        match tokio::task::spawn_blocking(move || lookup_in(&cache, &key)).await {
            Ok(found) => found,
            Err(join) => {
                tracing::warn!(error = %join, "cache lookup panicked; treating it as a miss");
                None
            }
        }
    }

    fn record_estimate(&self, req: &BuildRequest, build_ms: u64) {
        let target = estimate::target(&req.target_platform.os, &req.target_platform.arch);
        self.estimates.record(&target, build_ms);
    }

    fn lookup_blocking(&self, key: &CacheKey) -> Option<Artifact> {
        lookup_in(self.cache.as_ref()?, key)
    }

    fn queue_position(&self, queue_ticket: u64) -> Option<u64> {
        self.builder.queue_position(queue_ticket)
    }

    /// The build task: stops at shutdown, whoever still waits. `queue` holds the local
    /// builder's queue ticket while the build waits for a slot.
    async fn build(
        self: Arc<Self>,
        req: &BuildRequest,
        key: &CacheKey,
        deadline: Instant,
        queue: &AtomicU64,
    ) -> Result<Artifact> {
        let result = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Err(Error::ShuttingDown),
            result = self.build_inner(req, key, deadline, queue) => result,
        };
        if let Err(err) = &result {
            self.stats.build_failed(err);
        }
        result
    }

    async fn build_inner(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        deadline: Instant,
        queue: &AtomicU64,
    ) -> Result<Artifact> {
        // A build that finished between our miss and our start has stored its binary.
        if !req.force_rebuild {
            if let Some(hit) = self.lookup(key).await {
                return Ok(hit);
            }
        }
        // One build across the processes sharing the cache directory.
        let _lease = match &self.cache {
            Some(cache) => {
                let claim = shared_build::claim(
                    cache,
                    key,
                    self.config.build_timeout,
                    req.force_rebuild,
                    deadline,
                )
                .await?;
                match claim {
                    shared_build::Claim::Build(lease) => lease,
                    shared_build::Claim::Built(artifact) => {
                        Stats::bump(&self.stats.joined);
                        return Ok(artifact);
                    }
                }
            }
            None => None,
        };
        // Then one build across hosts, under the directory lease: a host with several
        // processes asks the bucket (and takes a remote lease) once.
        match (&self.remote, &self.cache) {
            (Some(remote), Some(cache)) => {
                let build = self.build_here(req, key, deadline, queue);
                let timeout = self.config.build_timeout;
                crate::remote::around_build(remote, cache, req, key, deadline, timeout, build).await
            }
            _ => self.build_here(req, key, deadline, queue).await,
        }
    }

    /// Builds with Velox or the local builder, and stores the result. An output that
    /// cannot be served counts as the builder's error: it answered with nothing usable.
    async fn build_here(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        deadline: Instant,
        queue: &AtomicU64,
    ) -> Result<Artifact> {
        let timeout = self.config.build_timeout;
        let built = (self.builder)
            .build(req, deadline, timeout, queue, &self.stats)
            .await?;
        self.record_estimate(req, built.ms);
        let taken = match built.take(&self.allowed).await {
            Ok(taken) => self.verified(req, taken).await,
            Err(err) => Err(err),
        };
        let stored = match taken {
            Ok((taken, provenance)) => Ok(self
                .store_or_serve(req, key, taken, provenance, built.ms)
                .await),
            Err(err) => {
                self.stats.upstream_error(&err);
                tracing::warn!(error = %err, "build output refused");
                Err(err)
            }
        };
        // Only once the binary is stored or open: this removes a local build's directory.
        built.discard().await;
        stored
    }

    /// Checks a taken binary against its request (`verify_builds`), off the async
    /// threads: a Velox build and a local build alike, before anything stores or serves it.
    async fn verified(
        &self,
        req: &BuildRequest,
        taken: ingest::Taken,
    ) -> Result<(ingest::Taken, Option<Provenance>)> {
        if !self.config.verify_builds {
            return Ok((taken, None));
        }
        let req = req.clone();
        blocking(move || {
            let provenance = crate::provenance::check(&taken.file, &req)?;
            Ok((taken, Some(provenance)))
        })
        .await
    }

    /// Stores a taken binary in the cache and returns the cached artifact; with the
    /// cache disabled, or when the store fails (disk full, permissions), serves the
    /// taken file itself.
    async fn store_or_serve(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        taken: ingest::Taken,
        provenance: Option<Provenance>,
        build_ms: u64,
    ) -> Artifact {
        let file = Arc::new(taken.file);
        if let Some(cache) = self.cache.clone() {
            // The entry is made of the very inode that was validated: going back to the
            // path would let a swap between the check and the store slip through.
            let (req, key2, path, src) =
                (req.clone(), key.clone(), taken.path.clone(), file.clone());
            let stored = blocking(move || {
                cache.store_verified(&req, &key2, &src, &path, build_ms, provenance.as_ref())
            })
            .await;
            match stored {
                Ok(artifact) if artifact.size == taken.size => return artifact,
                Ok(artifact) => tracing::warn!(
                    stored = artifact.size,
                    taken = taken.size,
                    "the cached copy differs from the validated file; serving the validated file"
                ),
                Err(err) => tracing::warn!(
                    error = %err,
                    "storing the build in the cache failed; serving it directly"
                ),
            }
        }
        // Not the cache's own copy, so hashed here; a hash that cannot be read leaves an
        // empty hash, which hosts treat as "no ETag" rather than failing a good build.
        let sha256 = match crate::cache::content::hash_file(&file) {
            Ok((h, _)) => h,
            Err(e) => {
                tracing::warn!(error = %e, "could not hash the build output");
                String::new()
            }
        };
        Artifact {
            file,
            path: taken.path,
            size: taken.size,
            key: key.clone(),
            sha256,
            source: Source::Built,
        }
    }
}

/// A cache failure is never the caller's failure: it is logged and treated as a miss.
fn lookup_in(cache: &Cache, key: &CacheKey) -> Option<Artifact> {
    match cache.lookup(key) {
        Ok(found) => found,
        Err(err) => {
            tracing::warn!(error = %err, "cache lookup failed; treating it as a miss");
            None
        }
    }
}

/// Joiners share the build's file; a fresh open file description gives each its own
/// offset, so a host that reads with `read()` rather than `pread()` cannot disturb
/// another. Falls back to sharing when `/proc` is not there.
fn private_copy(mut artifact: Artifact) -> Artifact {
    let fd = artifact.file.as_raw_fd();
    if let Ok(file) = File::open(format!("/proc/self/fd/{fd}")) {
        artifact.file = Arc::new(file);
    }
    artifact
}
