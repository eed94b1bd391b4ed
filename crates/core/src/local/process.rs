//! Running one go command as its own process group.
//!
//! `go build` and `go mod tidy` start children of their own (compile, link, git, ...).
//! Killing only the go process would leave those running, burning the cores of a machine
//! that has few. So each command leads a new process group, and cancellation or dropping
//! the build sends SIGKILL to the whole group, then waits until no live member is left.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// How much of each output stream is kept (the tail: go prints the error last).
const STREAM_TAIL: usize = 64 * 1024;
/// How often a running step reports that it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);
/// How long to wait for a killed group to disappear before giving up with a warning.
const GROUP_EXIT_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct StepOutput {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

/// A spawned process group leader. Dropped while armed, it kills its group: that is what
/// happens when the caller drops the build future (a timeout, a client gone).
struct GroupLeader {
    child: Child,
    pgid: i32,
    armed: bool,
}

impl GroupLeader {
    fn kill_group(&self) {
        // Safe against pid reuse: the leader is not reaped yet (`wait` has not returned),
        // so no other process group can carry this id.
        #[cfg(unix)]
        unsafe {
            // SAFETY: kill(2) has no memory-safety preconditions.
            libc::kill(-self.pgid, libc::SIGKILL);
        }
    }

    async fn kill_and_reap(&mut self) {
        self.kill_group();
        let _ = self.child.wait().await;
        self.armed = false;
        let deadline = Instant::now() + GROUP_EXIT_WAIT;
        while group_alive(self.pgid) {
            if Instant::now() >= deadline {
                tracing::warn!(
                    pgid = self.pgid,
                    "killed go process group still has live members"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for GroupLeader {
    fn drop(&mut self) {
        if self.armed {
            self.kill_group();
            // tokio reaps the leader in the background (kill_on_drop + its orphan queue).
        }
    }
}

/// Runs `cmd` (already given its program, arguments, directory and environment) in a
/// process group of its own, logging progress under `step`.
pub(crate) async fn run_step(
    step: &str,
    mut cmd: Command,
    cancel: &CancellationToken,
) -> Result<StepOutput> {
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let started = Instant::now();
    tracing::info!(step, "local build step started");
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("local build: starting `{step}`"), e))?;
    let stdout = tokio::spawn(read_tail(child.stdout.take()));
    let stderr = tokio::spawn(read_tail(child.stderr.take()));
    let pgid = child.id().map(|id| id as i32).unwrap_or(0);
    let mut leader = GroupLeader {
        child,
        pgid,
        armed: pgid > 0,
    };

    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let status = loop {
        tokio::select! {
            status = leader.child.wait() => {
                leader.armed = false;
                break status.map_err(|e| Error::io(format!("local build: waiting for `{step}`"), e))?;
            }
            _ = cancel.cancelled() => {
                leader.kill_and_reap().await;
                tracing::info!(step, elapsed_ms = started.elapsed().as_millis() as u64, "local build step cancelled");
                return Err(Error::Cancelled);
            }
            _ = progress.tick() => {
                tracing::info!(step, elapsed_s = started.elapsed().as_secs(), "local build step still running");
            }
        }
    };
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    let elapsed = started.elapsed();
    tracing::info!(
        step,
        elapsed_ms = elapsed.as_millis() as u64,
        success = status.success(),
        "local build step finished"
    );
    Ok(StepOutput {
        status,
        stdout,
        stderr,
        elapsed,
    })
}

async fn read_tail<R: AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * STREAM_TAIL {
                    kept.drain(..kept.len() - STREAM_TAIL);
                }
            }
        }
    }
    if kept.len() > STREAM_TAIL {
        kept.drain(..kept.len() - STREAM_TAIL);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Whether the process group still has a member that is not a zombie. Zombies count as
/// gone: they use no CPU, and where PID 1 does not reap orphans they would never leave.
pub(crate) fn group_alive(pgid: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the parenthesised command name: state, ppid, pgrp, ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let _ppid = fields.next();
            let pgrp = fields.next().and_then(|s| s.parse::<i32>().ok());
            if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
                return true;
            }
        }
        false
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // SAFETY: kill(2) with signal 0 only checks for existence.
        unsafe { libc::kill(-pgid, 0) == 0 }
    }
    #[cfg(not(unix))]
    {
        let _ = pgid;
        false
    }
}
