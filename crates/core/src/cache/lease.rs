//! `{key}.lease`: a build of `key` in flight, visible to every process sharing the
//! directory, so that one process builds and the others wait for its entry.
//!
//! A lease is created complete or not at all: its JSON is written to a temp file that is
//! then hard-linked to `{key}.lease` (link fails if the name exists, unlike rename). It
//! names its owner (`pid`, `host`) and when it started and stops counting
//! (`expires_at_ms` = start + the owner's `build_timeout`). It is live while it has not
//! expired and, when its host is this host, its pid exists. A dead lease is taken over
//! under the store lock, so two processes never both take over one lease; its owner
//! releases it under the same lock, so it never removes one that was just taken over.
//! A lease that is a link, a FIFO or too large (`open::read_small`) is foreign: read as
//! no lease by those that only look, replaced by a taker, removed by the sweep.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::dirlock::{DirLock, StoreLock};
use super::layout::{self, JSON_EXT};
use super::open;
use crate::request::CacheKey;

/// What a lease file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub pid: u32,
    pub host: String,
    /// The owner's start time (`/proc/<pid>/stat`, clock ticks since boot), so that a new
    /// process that got the same pid (a restarted container's pid 1) is not the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Unix milliseconds; past it the lease is dead whoever holds it.
    pub expires_at_ms: i64,
}

impl Lease {
    fn mine(now_ms: i64, timeout: Duration) -> Lease {
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let pid = std::process::id();
        Lease {
            pid,
            host: hostname(),
            pid_start: process_start(pid),
            started_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(timeout_ms),
        }
    }

    /// Whether its owner may still be building.
    pub fn is_live(&self, now_ms: i64) -> bool {
        if now_ms >= self.expires_at_ms {
            return false;
        }
        if self.host != hostname() {
            return true;
        }
        pid_exists(self.pid)
            && match (self.pid_start, process_start(self.pid)) {
                (Some(recorded), Some(now)) => recorded == now,
                // Unknown on one side (no /proc, an older writer): trust the pid.
                _ => true,
            }
    }

    pub fn age_ms(&self, now_ms: i64) -> u64 {
        u64::try_from(now_ms.saturating_sub(self.started_at_ms)).unwrap_or(0)
    }
}

/// Held by the process that builds; removes its lease on drop (success, failure,
/// cancellation, panic) unless another process took it over meanwhile.
#[derive(Debug)]
pub struct LeaseGuard {
    dir: PathBuf,
    path: PathBuf,
    lease: Lease,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        // Takers replace a dead lease under this lock: holding it, the read, the
        // comparison and the removal are one step for every other process.
        let _lock = match StoreLock::exclusive(&self.dir) {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(lease = %self.path.display(), error = %e, "build lease left to expire: store lock unavailable");
                return;
            }
        };
        match read_path(&self.path) {
            Ok(Some(current)) if current == self.lease => {
                if let Err(e) = layout::remove_if_exists(&self.path) {
                    tracing::warn!(lease = %self.path.display(), error = %e, "build lease not removed");
                }
            }
            _ => {}
        }
    }
}

/// The outcome of trying to lease a build.
#[derive(Debug)]
pub enum Acquire {
    /// This process builds.
    Mine(LeaseGuard),
    /// Another process (or this one, on another engine) builds: wait for its entry.
    Held(Lease),
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Creates `{key}.lease`, or takes it over when its owner is dead; `Held` when a live
/// one exists.
pub fn acquire(dir: &Path, key: &CacheKey, timeout: Duration) -> io::Result<Acquire> {
    let path = layout::lease_path(dir, key);
    // Bounded: each round either creates the lease, finds a live one, or removes a dead
    // one (which only another taker can replace, and then it is live).
    for _ in 0..8 {
        let lease = Lease::mine(now_ms(), timeout);
        if create(dir, &path, &lease)? {
            return Ok(Acquire::Mine(LeaseGuard {
                dir: dir.to_path_buf(),
                path,
                lease,
            }));
        }
        let _lock = StoreLock::exclusive(dir)?;
        match read_path(&path) {
            Ok(Some(current)) if current.is_live(now_ms()) => return Ok(Acquire::Held(current)),
            Ok(Some(dead)) => {
                tracing::info!(key = %key, pid = dead.pid, host = %dead.host, "taking over a dead build lease");
                layout::remove_if_exists(&path)?;
            }
            // Gone meanwhile: try again.
            Ok(None) => {}
            // Unreadable (not ours to judge): treated as dead so it cannot block forever.
            Err(e) => {
                tracing::warn!(key = %key, error = %e, "unreadable build lease replaced");
                layout::remove_if_exists(&path)?;
            }
        }
    }
    Err(io::Error::other(format!(
        "build lease {} kept changing",
        path.display()
    )))
}

/// `Ok(None)` when there is no lease for `key`.
pub fn read(dir: &Path, key: &CacheKey) -> io::Result<Option<Lease>> {
    read_path(&layout::lease_path(dir, key))
}

/// An error for a lease that is foreign or not a lease's JSON.
fn read_path(path: &Path) -> io::Result<Option<Lease>> {
    let Some(bytes) = open::read_small(path, open::SMALL_MAX)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `Ok(false)` when the name exists.
fn create(dir: &Path, path: &Path, lease: &Lease) -> io::Result<bool> {
    // A sweep in another process must not take the temp file for a crash's leftover.
    let _dir = DirLock::shared(dir)?;
    let temp = layout::temp_path(dir, JSON_EXT);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        f.write_all(&serde_json::to_vec(lease).expect("lease always serialises"))?;
        match fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = layout::remove_if_exists(&temp);
    result
}

/// At open: removes the leases of builds that died (a crash, a SIGKILL). Live ones are
/// left to their owners. Returns how many went.
/// `paths` are the `{key}.lease` names a listing found; never called under the store
/// lock (it takes it per lease).
pub(crate) fn sweep_dead_among(dir: &Path, paths: &[std::path::PathBuf]) -> io::Result<u64> {
    let mut removed = 0;
    let now = now_ms();
    for path in paths {
        let path = path.clone();
        let _lock = StoreLock::exclusive(dir)?;
        let dead = match read_path(&path) {
            Ok(Some(lease)) => !lease.is_live(now),
            Ok(None) => false,
            Err(_) => true,
        };
        if !dead {
            continue;
        }
        // A directory under a lease's name cannot be unlinked: the others still go.
        match layout::remove_if_exists(&path) {
            Ok(true) => {
                tracing::info!(lease = %path.display(), "stale build lease removed");
                removed += 1;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(lease = %path.display(), error = %e, "stale build lease not removed")
            }
        }
    }
    Ok(removed)
}

fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot); the command
/// name before it is in parentheses and may contain spaces, so fields are counted from
/// the last `)`.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This host's name, as leases record it (`/proc/sys/kernel/hostname`, the UTS name).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey::parse(&"cd".repeat(32)).unwrap()
    }

    #[test]
    fn one_owner_then_takeover_of_a_dead_one() {
        let dir = tempfile::tempdir().unwrap();
        let Acquire::Mine(guard) = acquire(dir.path(), &key(), Duration::from_secs(60)).unwrap()
        else {
            panic!("first acquire owns the lease");
        };
        match acquire(dir.path(), &key(), Duration::from_secs(60)).unwrap() {
            Acquire::Held(l) => assert_eq!(l.pid, std::process::id()),
            Acquire::Mine(_) => panic!("a live lease is not taken twice"),
        }
        drop(guard);
        assert!(
            read(dir.path(), &key()).unwrap().is_none(),
            "removed on drop"
        );

        // A lease of a pid that cannot exist on this host is dead.
        let dead = Lease {
            pid: i32::MAX as u32,
            host: hostname(),
            pid_start: None,
            started_at_ms: now_ms(),
            expires_at_ms: now_ms() + 60_000,
        };
        fs::write(
            layout::lease_path(dir.path(), &key()),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        assert!(!dead.is_live(now_ms()));
        assert!(matches!(
            acquire(dir.path(), &key(), Duration::from_secs(60)).unwrap(),
            Acquire::Mine(_)
        ));
    }

    #[test]
    fn an_expired_lease_is_dead_even_if_its_owner_lives() {
        let l = Lease {
            pid: std::process::id(),
            host: hostname(),
            pid_start: None,
            started_at_ms: 0,
            expires_at_ms: 10,
        };
        assert!(!l.is_live(11));
        assert!(l.is_live(9));
        let other_host = Lease {
            host: format!("{}-elsewhere", hostname()),
            pid: i32::MAX as u32,
            ..l
        };
        assert!(
            other_host.is_live(9),
            "a pid on another host cannot be checked"
        );
    }

    #[test]
    fn a_reused_pid_is_not_the_owner() {
        let me = std::process::id();
        let start = process_start(me).expect("/proc is mounted");
        let mut l = Lease {
            pid: me,
            host: hostname(),
            pid_start: Some(start),
            started_at_ms: 0,
            expires_at_ms: i64::MAX,
        };
        assert!(l.is_live(1));
        l.pid_start = Some(start + 1);
        assert!(!l.is_live(1), "same pid, another process");
    }
}
