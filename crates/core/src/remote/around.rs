//! The remote tier around one build task: remote lookup, lease (or wait for the host
//! holding it), the build itself, then upload and release in the background.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::fetch::Fetched;
use super::lease::{Acquired, Lease};
use super::{Failure, RemoteTier};
use crate::artifact::Artifact;
use crate::cache::{layout, Cache};
use crate::error::Result;
use crate::request::{BuildRequest, CacheKey};

/// Lease rounds before building anyway (a lease that keeps vanishing without a binary).
const LEASE_ROUNDS: u32 = 4;
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);

/// Runs `build` for a local miss, with the remote tier around it. `build` is only
/// polled when this host is to build: when the object is in the bucket, or another
/// host's build puts it there in time, it is served from there (`Source::Remote`).
/// Every remote failure falls back to `build`.
pub async fn around_build<F>(
    tier: &Arc<RemoteTier>,
    cache: &Arc<Cache>,
    req: &BuildRequest,
    key: &CacheKey,
    deadline: Instant,
    build_timeout: Duration,
    build: F,
) -> Result<Artifact>
where
    F: Future<Output = Result<Artifact>>,
{
    let mut lease = None;
    if !req.force_rebuild {
        // A transfer may use half the time left; the rest is the local build's.
        let half = (deadline - Instant::now()) / 2;
        let mut absent = false;
        match tier.lookup(cache, req, key, Instant::now() + half).await {
            Looked::Found(found) => return Ok(found),
            Looked::Absent => absent = true,
            Looked::Failed => {}
        }
        // Waiting for another host ends early enough to still build here.
        let wait_until = deadline - build_timeout / 4;
        for _ in 0..LEASE_ROUNDS {
            match tier.try_lease(key, deadline).await {
                Ok(Acquired::Held(held)) => {
                    // The holder before us may have uploaded and released between our
                    // lookup and our lease: look once more before building (not when
                    // the object there was refused: it would be refused again).
                    if absent {
                        let until = Instant::now() + half;
                        if let Looked::Found(found) = tier.lookup(cache, req, key, until).await {
                            tier.release(held).await;
                            return Ok(found);
                        }
                    }
                    lease = Some(held);
                    break;
                }
                Ok(Acquired::Busy) => {
                    tier.count("lease_wait");
                    tracing::debug!("another host builds this key; waiting for its upload");
                    match tier.wait_for(cache, req, key, wait_until).await {
                        Waited::Found(found) => return Ok(found),
                        Waited::LeaseGone => continue,
                        Waited::GaveUp => break,
                    }
                }
                Err(e) => {
                    tier.failed("lease", &e);
                    break;
                }
            }
        }
    }
    let built = build.await;
    let tier = tier.clone();
    match &built {
        Ok(artifact) => {
            let metadata = stored_metadata(cache, artifact);
            let artifact = artifact.clone();
            // Not awaited: the client's download never waits for the upload.
            tokio::spawn(async move {
                if let Some(metadata) = metadata {
                    match tier.upload(&artifact, metadata).await {
                        Ok(()) => {
                            tier.count("upload");
                            tracing::info!(key = %artifact.key, size = artifact.size, "uploaded to the remote tier");
                        }
                        Err(e) => tier.failed("upload", &e),
                    }
                }
                release(&tier, lease).await;
            });
        }
        Err(_) => {
            tokio::spawn(async move { release(&tier, lease).await });
        }
    }
    built
}

async fn release(tier: &RemoteTier, lease: Option<Lease>) {
    if let Some(lease) = lease {
        tier.release(lease).await;
    }
}

/// A hit in the local cache directory, which other processes on this host may fill.
async fn local_hit(cache: &Arc<Cache>, key: &CacheKey) -> Option<Artifact> {
    let (cache, key) = (cache.clone(), key.clone());
    tokio::task::spawn_blocking(move || cache.lookup(&key).ok().flatten())
        .await
        .ok()
        .flatten()
}

/// The local metadata file of an artifact the cache stored; `None` when it was served
/// from elsewhere (cache full or failing), which is then not uploaded either.
fn stored_metadata(cache: &Cache, artifact: &Artifact) -> Option<Vec<u8>> {
    if artifact.path != layout::bin_path(cache.directory(), &artifact.key) {
        return None;
    }
    let path = layout::json_path(cache.directory(), &artifact.key);
    crate::cache::open::read_small(&path, crate::cache::open::METADATA_MAX)
        .ok()
        .flatten()
}

enum Looked {
    Found(Artifact),
    Absent,
    /// Unreachable, erroring or corrupt: build here.
    Failed,
}

pub(crate) enum Waited {
    Found(Artifact),
    /// The lease was released or expired without a binary: try to take it.
    LeaseGone,
    GaveUp,
}

impl RemoteTier {
    /// The remote lookup of a local miss; a failure is logged and counted here.
    async fn lookup(
        &self,
        cache: &Arc<Cache>,
        req: &BuildRequest,
        key: &CacheKey,
        until: Instant,
    ) -> Looked {
        match self.fetch_into(cache, req, key, until).await {
            Ok(Fetched::Found(found)) => {
                self.count("hit");
                tracing::info!(size = found.size, "filled from the remote tier");
                Looked::Found(found)
            }
            Ok(Fetched::Absent) => {
                self.count("miss");
                Looked::Absent
            }
            Err(e) => {
                self.failed("get", &e);
                Looked::Failed
            }
        }
    }

    /// Polls with backoff for the binary another host is building, until `until`.
    async fn wait_for(
        &self,
        cache: &Arc<Cache>,
        req: &BuildRequest,
        key: &CacheKey,
        until: Instant,
    ) -> Waited {
        let mut delay = FIRST_POLL;
        loop {
            let now = Instant::now();
            if now >= until {
                tracing::warn!(key = %key, "waited for another host's build until the limit; building here");
                self.count("lease_wait_expired");
                return Waited::GaveUp;
            }
            tokio::time::sleep(delay.min(until - now)).await;
            delay = (delay * 2).min(MAX_POLL);
            // The lease holder may be another process on this host, sharing the cache
            // directory: its local entry comes before its upload.
            if let Some(hit) = local_hit(cache, key).await {
                return Waited::Found(hit);
            }
            match self.fetch_into(cache, req, key, until).await {
                Ok(Fetched::Found(found)) => {
                    self.count("hit");
                    return Waited::Found(found);
                }
                Ok(Fetched::Absent) => {}
                Err(e) => {
                    self.failed("get", &e);
                    return Waited::GaveUp;
                }
            }
            match self.lease_live(key, until).await {
                Ok(true) => {}
                Ok(false) => return Waited::LeaseGone,
                Err(e) => {
                    self.failed("lease", &e);
                    return Waited::GaveUp;
                }
            }
        }
    }

    /// A remote step failed: warn, count, and carry on locally.
    pub(crate) fn failed(&self, step: &str, e: &Failure) {
        if matches!(e, Failure::Corrupt { .. }) {
            self.count("corrupt");
            tracing::warn!(step, error = %e, "refused a corrupt remote object; building here");
        } else {
            self.count("error");
            tracing::warn!(step, error = %e, "remote tier failed; carrying on locally");
        }
    }
}
