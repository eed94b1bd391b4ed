//! The shared object-storage tier (S3 API) behind the local disk cache.
//!
//! Several hosts that share no disk share one bucket: on a local miss a host looks the
//! key up there (`fetch.rs`) before building; before building it takes a lease object
//! so that one host builds per key (`lease.rs`); after a build it uploads the binary and
//! its metadata in the background (`upload.rs`). `around.rs` puts those steps around
//! the resolver's build. Every remote failure degrades to the local path with a warning
//! and a counter (`Stats::remote`): the remote tier never fails a download.

mod around;
mod fetch;
mod lease;
pub mod objects;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::request::CacheKey;
use crate::stats::Stats;

pub use crate::config::RemoteConfig;
pub use around::around_build;

/// The object-metadata name of a binary's SHA-256 (`x-amz-meta-sha256`).
pub const SHA256_METADATA: &str = "sha256";

/// One remote request (a HEAD, a small GET or PUT) never takes longer than this; a
/// transfer is bounded by the caller's deadline instead.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RemoteTier {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// `hostname:pid`, written into leases.
    holder: String,
    /// How long a lease is honoured: the build's own bound plus time for the upload.
    lease_ttl: Duration,
    stats: Arc<Stats>,
    /// Check each object's Go build information against the request (`verify_builds`):
    /// a matching hash only says the object is what its writer uploaded.
    verify: bool,
}

impl RemoteTier {
    /// Builds the S3 client; no request is made. Credentials come from the config or,
    /// when it has none, from the `AWS_*` environment.
    pub fn new(cfg: &RemoteConfig, build_timeout: Duration, stats: Arc<Stats>) -> Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_allow_http(cfg.allow_http)
            // If-None-Match: * for leases, If-Match for taking an expired one over.
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    // Large transfers stream; this bounds a stalled read, not a transfer.
                    .with_timeout(Duration::from_secs(60))
                    .with_allow_http(cfg.allow_http),
            )
            // A few quick retries: a remote that is down must not hold a download back.
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(500),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(5),
            });
        if let Some(endpoint) = &cfg.endpoint {
            // S3-compatible stores are addressed by path (`host/bucket/key`).
            b = b
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = b
            .build()
            .map_err(|e| Error::config("cache.remote.url", format!("cannot set up S3: {e}")))?;
        Ok(RemoteTier {
            store: Arc::new(store),
            prefix: cfg.prefix.clone(),
            holder: format!("{}:{}", hostname(), std::process::id()),
            lease_ttl: build_timeout + Duration::from_secs(120),
            stats,
            verify: true,
        })
    }

    /// Whether objects are verified against their request before they are served
    /// (`verify_builds`; on unless turned off here).
    pub fn verifying(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// The object store itself (the `velox-cache` remote commands).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix under which this tier's objects live ("" = bucket root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}/{key}{ext}` (`.bin`, `.json`, `.lease`).
    pub fn object(&self, key: &CacheKey, ext: &str) -> ObjectPath {
        self.named(&format!("{key}{ext}"))
    }

    pub(crate) fn named(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Counts a remote event (`hit`, `miss`, `error`, `corrupt`, `upload`, ...).
    pub(crate) fn count(&self, event: &str) {
        self.stats.remote.bump(event);
    }
}

/// Runs one remote request within `OP_TIMEOUT` and `until`, whichever comes first.
pub(crate) async fn bounded<T>(
    until: Instant,
    fut: impl std::future::Future<Output = object_store::Result<T>>,
) -> std::result::Result<T, Failure> {
    let until = until.min(Instant::now() + OP_TIMEOUT);
    match tokio::time::timeout_at(until, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Store(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Why a remote step gave up; always answered by the local path.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0}")]
    Store(#[from] object_store::Error),
    #[error("no answer in time")]
    Timeout,
    #[error("sha256 of the object is {actual}, its metadata says {expected:?}")]
    Corrupt { expected: String, actual: String },
    #[error("local file: {0}")]
    Local(String),
    /// The object is intact but is not the build its key stands for.
    #[error("{0}")]
    Mismatch(String),
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}
