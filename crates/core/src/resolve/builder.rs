//! What makes the binaries: a Velox server or the embedded local builder, whichever the
//! configuration names. Both are counted, timed and logged here, once, the same way;
//! they differ only in how a build is asked for and how far its output is trusted.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ingest::{self, AllowedDir, Taken};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::local::{LocalBuild, LocalBuilder};
use crate::request::BuildRequest;
use crate::stats::Stats;
use crate::upstream::{self, Upstream};

/// How much of a build's log goes into the log line that reports it.
const LOG_TAIL: usize = 512;

/// Exactly one per resolver, as the configuration's build path says.
pub(super) enum Builder {
    Velox(Upstream),
    Local(LocalBuilder),
}

/// A binary a build made, not yet taken into the cache.
pub(super) struct Built {
    pub(super) ms: u64,
    output: Output,
}

enum Output {
    /// The path Velox answered: another machine's word, checked before it is opened.
    Velox { path: String, logs: String },
    /// Our own build, in a private directory that [`Built::discard`] removes.
    Local(LocalBuild),
}

impl Builder {
    /// The builder of the configuration's one build path.
    pub(super) fn new(config: &Config) -> Result<Builder> {
        // Refuses neither or both: from here `server_url` alone says which.
        config.build_path()?;
        Ok(match Upstream::from_config(config)? {
            Some(upstream) => Builder::Velox(upstream),
            None => Builder::Local(LocalBuilder::new(config.local.clone())?),
        })
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Builder::Velox(_) => "velox",
            Builder::Local(_) => "local",
        }
    }

    /// The place of a build in the local builder's queue, if it waits there.
    pub(super) fn queue_position(&self, queue_ticket: u64) -> Option<u64> {
        match self {
            Builder::Velox(_) => None,
            Builder::Local(local) => local.queue_position(queue_ticket).map(|p| p as u64),
        }
    }

    /// Builds waiting in the local builder's own queue (none for Velox).
    pub(super) fn queued(&self) -> usize {
        match self {
            Builder::Velox(_) => 0,
            Builder::Local(local) => local.queued(),
        }
    }

    /// Builds `req` by `deadline` (`timeout` is what the configuration calls that
    /// time). `queue` holds the local builder's queue ticket while the build waits for a
    /// slot. Dropping the future stops the build (the local builder kills its go
    /// processes).
    pub(super) async fn build(
        &self,
        req: &BuildRequest,
        deadline: Instant,
        timeout: Duration,
        queue: &AtomicU64,
        stats: &Stats,
    ) -> Result<Built> {
        Stats::bump(&stats.builds);
        let built = match self {
            Builder::Velox(upstream) => velox(upstream, req, deadline).await,
            Builder::Local(local) => locally(local, req, deadline, timeout, queue).await,
        };
        match &built {
            Ok(built) => {
                stats.build_duration.observe_ms(built.ms);
                tracing::info!(
                    builder = self.name(),
                    build_ms = built.ms,
                    path = %built.path(),
                    logs = %upstream::tail(built.logs(), LOG_TAIL),
                    "build done"
                );
            }
            Err(err) => {
                stats.upstream_error(err);
                tracing::warn!(builder = self.name(), error = %err, "build failed");
            }
        }
        built
    }
}

async fn velox(upstream: &Upstream, req: &BuildRequest, deadline: Instant) -> Result<Built> {
    let started = Instant::now();
    let output = upstream.build(&req.to_velox_json(), deadline).await?;
    Ok(Built {
        ms: started.elapsed().as_millis() as u64,
        output: Output::Velox {
            path: output.path,
            logs: output.logs,
        },
    })
}

/// The local builder does not watch the deadline itself: it is cut off here.
async fn locally(
    local: &LocalBuilder,
    req: &BuildRequest,
    deadline: Instant,
    timeout: Duration,
    queue: &AtomicU64,
) -> Result<Built> {
    let build = local.build_queued(req, CancellationToken::new(), queue);
    let build = tokio::time::timeout_at(deadline, build)
        .await
        .unwrap_or(Err(Error::Timeout {
            seconds: timeout.as_secs(),
        }))?;
    Ok(Built {
        ms: build.duration.as_millis() as u64,
        output: Output::Local(build),
    })
}

impl Built {
    fn path(&self) -> Cow<'_, str> {
        match &self.output {
            Output::Velox { path, .. } => Cow::Borrowed(path),
            Output::Local(build) => build.path.to_string_lossy(),
        }
    }

    fn logs(&self) -> &str {
        match &self.output {
            Output::Velox { logs, .. } => logs,
            Output::Local(build) => &build.logs,
        }
    }

    /// Opens the binary, off the async threads. Velox's path must lie in `allowed`
    /// (see `ingest.rs`); our own output only has to be a non-empty regular file.
    pub(super) async fn take(&self, allowed: &[AllowedDir]) -> Result<Taken> {
        let taken = match &self.output {
            Output::Velox { path, .. } => {
                let (path, allowed) = (path.clone(), allowed.to_vec());
                blocking(move || ingest::take(&path, &allowed)).await
            }
            Output::Local(build) => {
                let path = build.path.clone();
                blocking(move || ingest::take_trusted(&path)).await
            }
        }?;
        tracing::debug!(path = %taken.path.display(), size = taken.size, "build output taken");
        Ok(taken)
    }

    /// Removes what the build left behind (the local builder's output directory) and
    /// waits for it; call it once the binary is stored or opened.
    pub(super) async fn discard(self) {
        if let Output::Local(build) = self.output {
            build.discard().await;
        }
    }
}

/// Runs blocking filesystem work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|join| Err(Error::Panic(format!("blocking task: {join}"))))
}
