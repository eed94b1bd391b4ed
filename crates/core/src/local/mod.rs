//! The embedded local builder: builds a RoadRunner binary on this machine with the Go
//! toolchain, when the configuration asks for it (`local_build_enabled: true`, no
//! `server_url`; see `crate::config::BuildPath`). The engine checks at start that
//! `go_binary` runs (`toolchain.rs`).
//!
//! # API (used by the resolver)
//!
//! ```ignore
//! let builder = LocalBuilder::new(LocalBuildConfig::default())?;   // once, at engine start
//! let build: LocalBuild = builder.build(&request, cancel_token).await?;
//! // build.path: the binary, in a private output directory owned by `build`
//! // build.logs: the go commands and their output (bounded)
//! // build.duration: wall time including the wait for a build slot
//! cache.store(..., &build.path, ...);   // copy or rename the file out
//! drop(build);                          // removes the output directory
//! ```
//!
//! * At most `max_concurrent` builds run at once; up to `queue_limit` more wait (FIFO);
//!   beyond that `build` fails at once with [`Error::Busy`] (`crate::admission`; the
//!   resolver's own admission, for every builder, comes before this one).
//! * Every build works in a private workspace under `work_dir`, removed afterwards
//!   whatever happened (success, failure, cancellation, drop).
//! * Each go command runs in its own process group; cancelling the token, or dropping
//!   the future (a `build_timeout` in the caller), kills the whole group with SIGKILL.
//!   Cancellation returns [`Error::Cancelled`] after the group is gone.
//! * A failing go command gives [`Error::BuildFailed`] with code `internal` (what Velox
//!   answers for compile errors), go's error output as the message (its last 4 KiB) and
//!   the build log as `logs`. Invalid strings in the request give `InvalidRequest`.
//! * Timeouts are the caller's: wrap `build` in `tokio::time::timeout` or cancel.
//! * Progress is logged with `tracing` (`step`, `elapsed_ms`, `elapsed_s` every 15 s).
//!
//! # Config keys
//!
//! `local_build_enabled` and the `local_build*` / `go_binary` keys of the `velox:` section
//! are rows of the key table (`crate::config::keys`), which also renders README.md's
//! configuration table; [`LocalBuildConfig`] holds what they parse to.
//!
//! # What gets built, and the `rr_version` caveat
//!
//! Velox builds RoadRunner's own source for `rr_version` with `container/plugins.go`
//! rewritten for the requested plugins. The builder does the same when the Go module
//! proxy serves `github.com/roadrunner-server/roadrunner/v<year>@<rr_version>`
//! (`go mod download -json`; see `roadrunner_source.rs`).
//!
//! The proxy reachable from this project's machines refuses RoadRunner's module (403),
//! so with the default `auto` source the builder falls back to a generated `main.go`
//! (`generated_main.rs`): the config plugin plus the requested plugins on an endure v2
//! container, with RoadRunner's `serve -c .rr.yaml` command and a `--version` that
//! prints `rr_version` and the plugin modules. There `rr_version` is only the version
//! label stamped into the binary: the binary holds exactly the requested plugin
//! versions, not RoadRunner's bundled CLI (`workers`, `reset`, ...). A deployment whose
//! proxy serves RoadRunner gets the real source automatically (or insists on it with
//! `local_build_source: roadrunner`).

mod generated_main;
mod log;
mod pipeline;
mod plan;
mod process;
mod recipe;
mod roadrunner_source;
mod toolchain;
mod workspace;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::request::BuildRequest;

pub use crate::config::{LocalBuildConfig, SourceMode};
pub use toolchain::{check_go, GO_VERSION_TIMEOUT};

use crate::admission::Admission;
use pipeline::Pipeline;
use plan::Plan;
use workspace::PrivateDir;

/// Builds RoadRunner binaries with the local Go toolchain. Share one per engine: the
/// limits on concurrent and queued builds are per builder.
#[derive(Debug)]
pub struct LocalBuilder {
    cfg: LocalBuildConfig,
    admission: std::sync::Arc<Admission>,
}

/// `Retry-After` of a refusal by the local builder's own queue: about one build.
const BUSY_RETRY_AFTER_SECS: u32 = 60;

/// A finished build. The binary lives in a private output directory that is removed when
/// this value is dropped: move or copy the file out (into the cache) first.
#[derive(Debug)]
pub struct LocalBuild {
    /// The binary (`rr`, or `rr.exe` for windows).
    pub path: PathBuf,
    /// The go commands that ran and their output (bounded).
    pub logs: String,
    /// From the call to the end of `go build`, waiting for a slot included.
    pub duration: Duration,
    output: PrivateDir,
}

impl LocalBuild {
    /// Removes the output directory now and waits for it, so that nothing of the build
    /// is left once the caller returns (dropping the value removes it in the background).
    pub async fn discard(self) {
        self.output.remove().await;
    }
}

impl LocalBuilder {
    pub fn new(cfg: LocalBuildConfig) -> Result<LocalBuilder> {
        if cfg.max_concurrent == 0 {
            return Err(Error::config("local_builds", "must be at least 1"));
        }
        if cfg.go_binary.as_os_str().is_empty() {
            return Err(Error::config("go_binary", "must not be empty"));
        }
        if !cfg.work_dir.is_absolute() {
            return Err(Error::config("local_build_dir", "must be an absolute path"));
        }
        let admission = Admission::new(cfg.max_concurrent, cfg.queue_limit).into();
        Ok(LocalBuilder { cfg, admission })
    }

    pub fn config(&self) -> &LocalBuildConfig {
        &self.cfg
    }

    /// Builds currently running.
    pub fn running(&self) -> usize {
        self.admission.running()
    }

    /// Builds waiting for a slot.
    pub fn queued(&self) -> usize {
        self.admission.queued()
    }

    /// The place in the queue (1 = next) of the build whose ticket is `ticket` (see
    /// [`LocalBuilder::build_queued`]); `None` when it is not waiting for a slot.
    pub fn queue_position(&self, ticket: u64) -> Option<usize> {
        self.admission.position(ticket)
    }

    /// Builds `req`. Cancel `cancel` (or drop the future) to stop it: the go processes
    /// are killed and the workspace removed.
    pub async fn build(&self, req: &BuildRequest, cancel: CancellationToken) -> Result<LocalBuild> {
        self.build_queued(req, cancel, &std::sync::atomic::AtomicU64::new(0))
            .await
    }

    /// [`LocalBuilder::build`], keeping in `ticket` the build's queue ticket while it
    /// waits for a slot (0 otherwise), for [`LocalBuilder::queue_position`].
    pub async fn build_queued(
        &self,
        req: &BuildRequest,
        cancel: CancellationToken,
        ticket: &std::sync::atomic::AtomicU64,
    ) -> Result<LocalBuild> {
        let started = Instant::now();
        let plan = Plan::from_request(req)?;
        let _slot = (self.admission)
            .enter(&cancel, ticket, BUSY_RETRY_AFTER_SECS)
            .await?;
        let output = PrivateDir::create(&self.cfg.work_dir, "vxm-out-")?;
        let workspace = PrivateDir::create(&self.cfg.work_dir, "vxm-build-")?;
        tracing::info!(
            rr_version = %plan.rr_version,
            os = %plan.os,
            arch = %plan.arch,
            plugins = plan.plugins.len(),
            queued_ms = started.elapsed().as_millis() as u64,
            "local build started"
        );
        let out_file = output.path().join(plan.binary_name());
        let mut pipeline = Pipeline {
            cfg: &self.cfg,
            plan: &plan,
            workspace: workspace.path(),
            cancel: &cancel,
            log: Default::default(),
        };
        let result = pipeline.run(&out_file).await;
        let logs = pipeline.log.into_string();
        workspace.remove().await;
        let duration = started.elapsed();
        match &result {
            Ok(()) => tracing::info!(
                rr_version = %plan.rr_version,
                elapsed_ms = duration.as_millis() as u64,
                "local build finished"
            ),
            Err(e) => tracing::warn!(
                rr_version = %plan.rr_version,
                elapsed_ms = duration.as_millis() as u64,
                error = %e,
                "local build failed"
            ),
        }
        if let Err(e) = result {
            // Gone before the caller hears of the failure, as the workspace is; a drop
            // would remove it in the background, after the caller looked.
            output.remove().await;
            return Err(e);
        }
        Ok(LocalBuild {
            path: out_file,
            logs,
            duration,
            output,
        })
    }
}
