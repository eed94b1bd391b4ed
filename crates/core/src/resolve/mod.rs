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
//! (`crate::local`) instead of Velox; everything else (coalescing, cancellation, the
//! cache, the counters) is the same.

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
use crate::config::{BuildPath, Config};
use crate::error::{Error, Result};
use crate::local::{LocalBuild, LocalBuildConfig, LocalBuilder};
use crate::request::{BuildRequest, CacheKey};
use crate::stats::Stats;
use crate::upstream::Upstream;
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
    upstream: Option<Upstream>,
    /// Set exactly when `upstream` is not.
    local: Option<LocalBuilder>,
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
        let local = config.local.clone();
        Resolver::with_local_config(config, cache, stats, shutdown, local)
    }

    /// As [`Resolver::new`], with other settings for the local builder than the
    /// config's `local_*` keys (tests).
    pub fn with_local_config(
        config: Arc<Config>,
        cache: Option<Arc<Cache>>,
        stats: Arc<Stats>,
        shutdown: CancellationToken,
        local: LocalBuildConfig,
    ) -> Result<Resolver> {
        let (upstream, local) = match config.build_path()? {
            BuildPath::Velox(_) => (Upstream::from_config(&config)?, None),
            BuildPath::Local => (None, Some(LocalBuilder::new(local)?)),
        };
        let stats_for_map = stats.clone();
        let allowed = config
            .allowed_build_dirs
            .iter()
            .map(|d| AllowedDir::new(d))
            .collect();
        let remote = match (&config.remote, &cache) {
            (Some(r), Some(_)) => Some(Arc::new(crate::remote::RemoteTier::new(
                r,
                config.build_timeout,
                stats.clone(),
            )?)),
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
                upstream,
                local,
                allowed,
                remote,
                estimates: Estimates::default(),
            }),
            in_flight: InFlight::new(stats_for_map),
        })
    }

    /// Builds in flight right now (diagnostics and tests).
    pub fn builds_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Callers waiting for the build of `key` in flight, if there is one.
    pub fn waiters(&self, key: &CacheKey) -> Option<usize> {
        self.in_flight.waiters(key)
    }

    /// Cache hit, else join an identical build in flight, else build upstream.
    /// Returns `Cancelled` when `cancel` fires, `ShuttingDown` when the engine's
    /// shutdown token fires, `Timeout` after `build_timeout`.
    pub async fn resolve(&self, req: BuildRequest, cancel: Option<Cancel>) -> Result<Artifact> {
        ready(self.resolve_with(req, cancel, Lookup::InTask, None).await)
    }

    /// As [`Resolver::resolve`], but a build still running after `respond_after` (or
    /// what the client's `Prefer` asks, see `respond.rs`) is answered with a
    /// [`Pending`] and goes on into the cache.
    pub async fn resolve_or_pending(
        &self,
        req: BuildRequest,
        cancel: Option<Cancel>,
        prefer: Prefer,
    ) -> Result<Resolved> {
        self.resolve_with(req, cancel, Lookup::InTask, Some(prefer))
            .await
    }

    /// [`Resolver::resolve_or_pending`] after a miss of [`Resolver::cached`].
    pub async fn resolve_missed_or_pending(
        &self,
        req: BuildRequest,
        cancel: Option<Cancel>,
        prefer: Prefer,
    ) -> Result<Resolved> {
        self.resolve_with(req, cancel, Lookup::Done, Some(prefer))
            .await
    }

    /// The cache step of [`Resolver::resolve`] alone, on the calling thread: a hit (counted)
    /// or `None` (nothing counted) for a miss, `force_rebuild` or a disabled cache. Hosts
    /// block their own thread anyway, so a hit needs no hop through the runtime; after
    /// `None`, finish with [`Resolver::resolve_missed`].
    pub fn cached(&self, req: &BuildRequest) -> Option<Artifact> {
        if req.force_rebuild {
            return None;
        }
        let hit = self.shared.lookup_blocking(&req.key())?;
        Stats::bump(&self.shared.stats.hits);
        Some(hit)
    }

    /// [`Resolver::resolve`] for a request that [`Resolver::cached`] did not find: counts
    /// the miss and goes straight to joining or starting a build.
    pub async fn resolve_missed(
        &self,
        req: BuildRequest,
        cancel: Option<Cancel>,
    ) -> Result<Artifact> {
        ready(self.resolve_with(req, cancel, Lookup::Done, None).await)
    }

    /// `prefer` is `None` for callers that cannot take a [`Pending`] answer.
    async fn resolve_with(
        &self,
        req: BuildRequest,
        cancel: Option<Cancel>,
        lookup: Lookup,
        prefer: Option<Prefer>,
    ) -> Result<Resolved> {
        let build_timeout = self.shared.config.build_timeout;
        let deadline = Instant::now() + build_timeout;
        let key = req.key();
        let span = tracing::info_span!("resolve", key = %key, rr_version = %req.rr_version);
        let cancel = cancel.map(|c| c.token().clone()).unwrap_or_default();
        let work = self.resolve_inner(req, key, deadline, lookup, prefer);
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
        lookup: Lookup,
        prefer: Option<Prefer>,
    ) -> Result<Resolved> {
        let shared = &self.shared;
        // Hits and misses count lookups: none with `force_rebuild` or without a cache.
        if !req.force_rebuild && shared.cache.is_some() {
            let found = match lookup {
                Lookup::InTask => shared.lookup(&key).await,
                Lookup::Done => None,
            };
            match found {
                Some(hit) => {
                    Stats::bump(&shared.stats.hits);
                    return Ok(Resolved::Ready(hit));
                }
                None => Stats::bump(&shared.stats.misses),
            }
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

/// The artifact of a resolve that could not answer [`Resolved::Pending`].
fn ready(resolved: Result<Resolved>) -> Result<Artifact> {
    match resolved? {
        Resolved::Ready(artifact) => Ok(artifact),
        Resolved::Pending(_) => Err(Error::Panic(
            "a synchronous resolve was answered 202".into(),
        )),
    }
}

/// Whether the cache is still to be asked inside the resolve task.
#[derive(Clone, Copy)]
enum Lookup {
    InTask,
    Done,
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

    /// The place of a build in the local builder's queue, if it waits there.
    fn queue_position(&self, queue_ticket: u64) -> Option<u64> {
        let place = self.local.as_ref()?.queue_position(queue_ticket)?;
        Some(place as u64)
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

    /// Builds with Velox or the local builder, and stores the result.
    async fn build_here(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        deadline: Instant,
        queue: &AtomicU64,
    ) -> Result<Artifact> {
        let Some(upstream) = self.upstream.as_ref() else {
            return self.build_locally(req, key, deadline, queue).await;
        };
        Stats::bump(&self.stats.builds);
        let started = Instant::now();
        let output = match upstream.build(&req.to_velox_json(), deadline).await {
            Ok(output) => output,
            Err(err) => {
                self.stats.upstream_error(&err);
                tracing::warn!(error = %err, "build failed");
                return Err(err);
            }
        };
        let build_ms = started.elapsed().as_millis() as u64;
        self.stats.build_duration.observe_ms(build_ms);
        self.record_estimate(req, build_ms);
        tracing::info!(
            build_ms,
            path = %output.path,
            logs = %crate::upstream::tail(&output.logs, 512),
            "velox built the binary"
        );
        let taken = self.ingest(req, key, &output.path, build_ms).await;
        if let Err(err) = &taken {
            // Velox answered, but with something we cannot serve: its error too.
            self.stats.upstream_error(err);
            tracing::warn!(error = %err, path = %output.path, "build output refused");
        }
        taken
    }

    /// The embedded builder, bounded by the same deadline. Dropping its future (the last
    /// waiter left, shutdown) kills the go processes.
    async fn build_locally(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        deadline: Instant,
        queue: &AtomicU64,
    ) -> Result<Artifact> {
        let local = self
            .local
            .as_ref()
            .ok_or_else(|| Error::UpstreamUnavailable {
                attempts: 0,
                message: "no server_url configured and no local builder".into(),
            })?;
        Stats::bump(&self.stats.builds);
        let timeout = Error::Timeout {
            seconds: self.config.build_timeout.as_secs(),
        };
        let build = local.build_queued(req, CancellationToken::new(), queue);
        let built = tokio::time::timeout_at(deadline, build)
            .await
            .unwrap_or(Err(timeout));
        let build = match built {
            Ok(build) => build,
            Err(err) => {
                self.stats.upstream_error(&err);
                tracing::warn!(error = %err, "local build failed");
                return Err(err);
            }
        };
        let build_ms = build.duration.as_millis() as u64;
        self.stats.build_duration.observe_ms(build_ms);
        self.record_estimate(req, build_ms);
        tracing::info!(build_ms, path = %build.path.display(), "local build done");
        self.ingest_local(req, key, build, build_ms).await
    }

    /// A local build's output is ours (a private directory), so it needs no path
    /// checks beyond being a non-empty regular file. It is stored or opened before
    /// `build` is dropped, which removes the directory.
    async fn ingest_local(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        build: LocalBuild,
        build_ms: u64,
    ) -> Result<Artifact> {
        let path = build.path.clone();
        let taken = blocking(move || ingest::take_trusted(&path)).await?;
        let artifact = self.store_or_serve(req, key, taken, build_ms).await;
        build.discard().await;
        Ok(artifact)
    }

    /// Validates and opens the build output, then stores it in the cache. A store
    /// failure (disk full, permissions) degrades to serving the opened file directly.
    async fn ingest(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        raw_path: &str,
        build_ms: u64,
    ) -> Result<Artifact> {
        let allowed = self.allowed.clone();
        let raw = raw_path.to_owned();
        let taken = blocking(move || ingest::take(&raw, &allowed)).await?;
        tracing::debug!(path = %taken.path.display(), size = taken.size, "build output taken");
        Ok(self.store_or_serve(req, key, taken, build_ms).await)
    }

    /// Stores a taken binary in the cache and returns the cached artifact; with the
    /// cache disabled, or when the store fails (disk full, permissions), serves the
    /// taken file itself.
    async fn store_or_serve(
        &self,
        req: &BuildRequest,
        key: &CacheKey,
        taken: ingest::Taken,
        build_ms: u64,
    ) -> Artifact {
        let file = Arc::new(taken.file);
        if let Some(cache) = self.cache.clone() {
            // The entry is made of the very inode that was validated: going back to the
            // path would let a swap between the check and the store slip through.
            let (req, key2, path, src) =
                (req.clone(), key.clone(), taken.path.clone(), file.clone());
            let stored =
                blocking(move || cache.store_file(&req, &key2, &src, &path, build_ms)).await;
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

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|join| Err(Error::Panic(format!("blocking task: {join}"))))
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
