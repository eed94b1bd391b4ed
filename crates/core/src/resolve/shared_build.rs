//! Builds in flight across the processes sharing one cache directory.
//!
//! Within a process, identical misses join one build (`coalesce`). Across processes, the
//! one that starts a build holds `{key}.lease` in the cache directory (`cache::lease`);
//! the others find it live and wait for the entry instead of building: they poll the
//! lease (a small file read, backing off to `MAX_PAUSE`) until it is removed, then look
//! the key up. A lease whose owner died is taken over, and that process builds.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::artifact::{Artifact, Source};
use crate::cache::lease::{self, Acquire, LeaseGuard};
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::request::CacheKey;

const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// What this process does for a miss.
pub(crate) enum Claim {
    /// Build; the lease (if the directory allowed one) goes when this is dropped:
    /// success, failure, cancellation alike.
    Build(Option<LeaseGuard>),
    /// Another process built it meanwhile.
    Built(Artifact),
}

/// Takes the build lease of `key`, or waits (until `deadline`) for the process holding
/// it to finish. `recheck`: look the key up before building (not for `force_rebuild`
/// until a wait happened: the entry is then the other process's fresh build).
pub(crate) async fn claim(
    cache: &Arc<Cache>,
    key: &CacheKey,
    build_timeout: Duration,
    force_rebuild: bool,
    deadline: Instant,
) -> Result<Claim> {
    let mut waited = false;
    // Bounded by the deadline: every round either returns or waits for a lease to end.
    loop {
        let (c, k) = (cache.clone(), key.clone());
        let acquired =
            tokio::task::spawn_blocking(move || lease::acquire(c.directory(), &k, build_timeout))
                .await
                .map_err(|join| Error::Panic(format!("build lease: {join}")))?;
        let held = match acquired {
            Ok(Acquire::Mine(guard)) => {
                if !force_rebuild || waited {
                    // Built and stored by another process between our miss and now.
                    if let Some(hit) = lookup(cache, key).await {
                        return Ok(Claim::Built(hit));
                    }
                }
                return Ok(Claim::Build(Some(guard)));
            }
            Ok(Acquire::Held(held)) => held,
            Err(e) => {
                // Never worse than before leases: build, as a lone process would.
                tracing::warn!(error = %e, "build lease unavailable; building without one");
                return Ok(Claim::Build(None));
            }
        };
        tracing::info!(
            pid = held.pid,
            host = %held.host,
            age_ms = held.age_ms(lease::now_ms()),
            "another process is building this key: waiting for its entry"
        );
        waited = true;
        let mut pause = FIRST_PAUSE;
        loop {
            if Instant::now() + pause > deadline {
                return Err(Error::Timeout {
                    seconds: build_timeout.as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
            let (c, k) = (cache.clone(), key.clone());
            let current = tokio::task::spawn_blocking(move || lease::read(c.directory(), &k))
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten();
            match current {
                Some(l) if l == held && l.is_live(lease::now_ms()) => continue,
                _ => break,
            }
        }
        if let Some(hit) = lookup(cache, key).await {
            return Ok(Claim::Built(hit));
        }
        // The owner failed or died: the next round builds or waits for a new owner.
    }
}

async fn lookup(cache: &Arc<Cache>, key: &CacheKey) -> Option<Artifact> {
    let (c, k) = (cache.clone(), key.clone());
    let found = tokio::task::spawn_blocking(move || c.lookup(&k))
        .await
        .ok()?;
    match found {
        Ok(hit) => hit.map(|a| a.with_source(Source::Joined)),
        Err(e) => {
            tracing::warn!(error = %e, "cache lookup failed; treating it as a miss");
            None
        }
    }
}
