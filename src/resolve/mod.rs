//! Request -> artifact: cache, coalescing of identical builds, upstream, safe ingest.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::artifact::Artifact;
use crate::cache::Cache;
use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::Result;
use crate::request::BuildRequest;
use crate::stats::Stats;

pub struct Resolver {
    _private: (),
}

impl Resolver {
    pub fn new(
        _config: Arc<Config>,
        _cache: Option<Arc<Cache>>,
        _stats: Arc<Stats>,
        _shutdown: CancellationToken,
    ) -> Result<Resolver> {
        todo!("resolve: new")
    }

    /// Cache hit, else join an identical build in flight, else build upstream.
    /// Returns `Cancelled` when `cancel` fires, `ShuttingDown` when the engine's
    /// shutdown token fires, `Timeout` after `build_timeout`.
    pub async fn resolve(&self, _req: BuildRequest, _cancel: Option<Cancel>) -> Result<Artifact> {
        todo!("resolve: resolve")
    }
}
