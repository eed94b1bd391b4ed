//! Identical builds in flight share one upstream call.
//!
//! The first caller for a key starts a build task; later callers join it. Everyone
//! waits on a `watch` channel that the task fills once (no polling). The map counts the
//! waiters: when the last one leaves before the end (cancelled, timed out, shutting
//! down), [`Abandon`] decides: the task is aborted at once (which drops the HTTP request
//! and closes its connection upstream), after `build_linger` unless someone came back,
//! or never (`keep_abandoned_builds`). A build whose client was answered `202` always
//! finishes. The failure of a build somebody left is remembered (`failures.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::failures::Failures;
use super::linger::{self, Abandon};
use crate::artifact::Artifact;
use crate::error::Error;
use crate::request::CacheKey;
use crate::stats::Stats;

/// A build's result as every waiter sees it; `Error` is not `Clone`, hence the `Arc`.
pub type Outcome = Result<Artifact, Arc<Error>>;

type Slot = Option<Outcome>;

struct Entry {
    id: u64,
    waiters: usize,
    done: watch::Receiver<Slot>,
    task: Option<AbortHandle>,
    started: Instant,
    /// A client left before the end or was told to come back: its failure is remembered.
    detached: bool,
    /// A client was answered `202`: the build finishes whoever waits.
    kept: bool,
    /// Bumped each time the waiters drop to zero; a linger timer acts only on its own.
    left_epoch: u64,
    /// The local builder's queue ticket while the build waits for a slot, else 0.
    queue_ticket: Arc<AtomicU64>,
}

#[derive(Default)]
struct Map {
    builds: Mutex<HashMap<CacheKey, Entry>>,
    next_id: AtomicU64,
    stats: Arc<Stats>,
    /// Locked after `builds` when both are needed.
    failures: Failures,
}

/// The builds in flight, by key.
#[derive(Clone, Default)]
pub struct InFlight {
    map: Arc<Map>,
}

/// Whether this caller started the build or joined one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Joiner,
}

/// Handed to the build task: publishes its outcome and takes it out of the map.
pub struct Finisher {
    map: Arc<Map>,
    key: CacheKey,
    id: u64,
    tx: watch::Sender<Slot>,
    queue_ticket: Arc<AtomicU64>,
}

impl Finisher {
    /// Where the build keeps its local queue ticket (see `LocalBuilder::build_queued`).
    pub fn queue_ticket(&self) -> Arc<AtomicU64> {
        self.queue_ticket.clone()
    }

    pub fn finish(self, outcome: Outcome) {
        let mut builds = self.map.builds.lock();
        if builds.get(&self.key).is_some_and(|e| e.id == self.id) {
            let entry = builds.remove(&self.key).expect("checked above");
            if entry.waiters == 0 {
                Stats::bump(&self.map.stats.builds_unwatched_done);
                tracing::info!(key = %self.key, ok = outcome.is_ok(), "a build nobody waited for ended");
            }
            match &outcome {
                Err(err) if entry.detached => self.map.failures.remember(&self.key, err),
                Err(_) => {}
                Ok(_) => self.map.failures.forget(&self.key),
            }
        }
        // Under the lock, so a caller never finds the entry gone and the value unset.
        self.tx.send_replace(Some(outcome));
    }
}

/// One caller's place in a build. Dropping it leaves the build.
pub struct Ticket {
    map: Arc<Map>,
    key: CacheKey,
    id: u64,
    role: Role,
    done: watch::Receiver<Slot>,
    abandon: Abandon,
    started: Instant,
    queue_ticket: Arc<AtomicU64>,
}

impl InFlight {
    /// The map, counting into `stats` (joins after a client left, lingering builds).
    pub fn new(stats: Arc<Stats>) -> InFlight {
        InFlight {
            map: Arc::new(Map {
                stats,
                ..Map::default()
            }),
        }
    }

    /// Joins the build in flight for `key`, or starts one with `start`, which gets the
    /// [`Finisher`] and must spawn the task that calls it. `start` runs under the map's
    /// lock: it must only spawn, never wait. With no build in flight and
    /// `replay_failures`, a recently remembered failure of `key` is returned instead.
    pub fn join_or_start(
        &self,
        key: &CacheKey,
        abandon: Abandon,
        replay_failures: bool,
        start: impl FnOnce(Finisher) -> AbortHandle,
    ) -> Result<Ticket, Arc<Error>> {
        let mut builds = self.map.builds.lock();
        if let Some(entry) = builds.get_mut(key) {
            if entry.detached {
                Stats::bump(&self.map.stats.joined_after_leave);
                tracing::info!(key = %key, idle = entry.waiters == 0, "joined a build a client had left");
            }
            entry.waiters += 1;
            return Ok(Ticket {
                map: self.map.clone(),
                key: key.clone(),
                id: entry.id,
                role: Role::Joiner,
                done: entry.done.clone(),
                abandon,
                started: entry.started,
                queue_ticket: entry.queue_ticket.clone(),
            });
        }
        if replay_failures {
            if let Some(err) = self.map.failures.recent(key) {
                Stats::bump(&self.map.stats.failures_replayed);
                return Err(err);
            }
        } else {
            self.map.failures.forget(key);
        }
        let id = self.map.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, done) = watch::channel(None);
        let started = Instant::now();
        let queue_ticket = Arc::new(AtomicU64::new(0));
        builds.insert(
            key.clone(),
            Entry {
                id,
                waiters: 1,
                done: done.clone(),
                task: None,
                started,
                detached: false,
                kept: false,
                left_epoch: 0,
                queue_ticket: queue_ticket.clone(),
            },
        );
        let task = start(Finisher {
            map: self.map.clone(),
            key: key.clone(),
            id,
            tx,
            queue_ticket: queue_ticket.clone(),
        });
        // The task may already have finished and removed its entry.
        if let Some(entry) = builds.get_mut(key).filter(|e| e.id == id) {
            entry.task = Some(task);
        }
        Ok(Ticket {
            map: self.map.clone(),
            key: key.clone(),
            id,
            role: Role::Leader,
            done,
            abandon,
            started,
            queue_ticket,
        })
    }

    /// Builds in flight (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.map.builds.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waiters of the build in flight for `key`, if any.
    pub fn waiters(&self, key: &CacheKey) -> Option<usize> {
        self.map.builds.lock().get(key).map(|e| e.waiters)
    }
}

impl Map {
    /// A linger timer went off: cancels the build unless someone came back (or left
    /// again, which started a newer timer) or a client was promised its result.
    fn expire(&self, key: &CacheKey, id: u64, epoch: u64) {
        let mut builds = self.builds.lock();
        let idle = builds
            .get(key)
            .is_some_and(|e| e.id == id && e.waiters == 0 && e.left_epoch == epoch && !e.kept);
        if !idle {
            return;
        }
        if let Some(task) = builds.remove(key).and_then(|e| e.task) {
            Stats::bump(&self.stats.linger_expired);
            tracing::info!(key = %key, "nobody came back within build_linger; cancelling the build");
            task.abort();
        }
    }
}

impl Ticket {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The build's local queue ticket now (0 when it is not waiting for a slot).
    pub fn queue_ticket(&self) -> u64 {
        self.queue_ticket.load(Ordering::Acquire)
    }

    /// When the build started (for whoever joined it, not when this caller came).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// This caller is answered "come back later": the build must finish into the cache
    /// whoever waits, and its failure is remembered for the next poll.
    pub fn keep(&self) {
        let mut builds = self.map.builds.lock();
        if let Some(entry) = builds.get_mut(&self.key).filter(|e| e.id == self.id) {
            entry.kept = true;
            entry.detached = true;
        }
    }

    /// Waits for the build's outcome. Cancel-safe: dropping the future keeps the ticket.
    pub async fn outcome(&mut self) -> Outcome {
        match self.done.wait_for(Option::is_some).await {
            Ok(slot) => slot.clone().expect("wait_for checked Some"),
            // The task went away without a word: aborted at shutdown, or it panicked.
            Err(_) => Err(Arc::new(Error::Panic(
                "the build task ended without a result".into(),
            ))),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut builds = self.map.builds.lock();
        let Some(entry) = builds.get_mut(&self.key).filter(|e| e.id == self.id) else {
            return; // finished already
        };
        entry.waiters -= 1;
        if entry.waiters > 0 {
            return;
        }
        entry.detached = true;
        if entry.kept {
            return;
        }
        match self.abandon {
            Abandon::Keep => {}
            Abandon::Linger(linger) => {
                entry.left_epoch += 1;
                let (key, id, epoch) = (self.key.clone(), self.id, entry.left_epoch);
                tracing::info!(key = %self.key, linger_ms = linger.as_millis() as u64,
                    "last waiter left; the build lingers for a retry");
                linger::after(linger, Arc::downgrade(&self.map), move |map: &Map| {
                    map.expire(&key, id, epoch)
                });
            }
            Abandon::Cancel => {
                if let Some(task) = builds.remove(&self.key).and_then(|e| e.task) {
                    tracing::info!(key = %self.key, "last waiter left; cancelling the build");
                    task.abort();
                }
            }
        }
    }
}

/// A private copy of a shared error for one caller.
pub fn duplicate(err: &Error) -> Error {
    match err {
        Error::InvalidConfig { key, reason } => Error::InvalidConfig {
            key: key.clone(),
            reason: reason.clone(),
        },
        Error::InvalidRequest { field, reason } => Error::InvalidRequest {
            field: field.clone(),
            reason: reason.clone(),
        },
        Error::UpstreamRejected { code, message } => Error::UpstreamRejected {
            code: code.clone(),
            message: message.clone(),
        },
        Error::BuildFailed {
            code,
            message,
            logs,
        } => Error::BuildFailed {
            code: code.clone(),
            message: message.clone(),
            logs: logs.clone(),
        },
        Error::UpstreamUnavailable { attempts, message } => Error::UpstreamUnavailable {
            attempts: *attempts,
            message: message.clone(),
        },
        Error::Timeout { seconds } => Error::Timeout { seconds: *seconds },
        Error::Cancelled => Error::Cancelled,
        Error::UnsafePath { path, reason } => Error::UnsafePath {
            path: path.clone(),
            reason: reason.clone(),
        },
        Error::Io { context, source } => Error::Io {
            context: context.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::BuildMismatch { message } => Error::BuildMismatch {
            message: message.clone(),
        },
        Error::ShuttingDown => Error::ShuttingDown,
        Error::NotFound => Error::NotFound,
        Error::Panic(msg) => Error::Panic(msg.clone()),
    }
}
