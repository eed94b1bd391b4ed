//! Identical builds in flight share one upstream call.
//!
//! The first caller for a key starts a build task; later callers join it. Everyone
//! waits on a `watch` channel that the task fills once (no polling). The map counts the
//! waiters: when the last one leaves before the end (cancelled, timed out, shutting
//! down), the task is aborted, which drops the HTTP request and closes its connection
//! upstream, unless `keep_abandoned_builds` asks to let it finish into the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::artifact::Artifact;
use crate::error::Error;
use crate::request::CacheKey;

/// A build's result as every waiter sees it; `Error` is not `Clone`, hence the `Arc`.
pub type Outcome = Result<Artifact, Arc<Error>>;

type Slot = Option<Outcome>;

struct Entry {
    id: u64,
    waiters: usize,
    done: watch::Receiver<Slot>,
    task: Option<AbortHandle>,
}

#[derive(Default)]
struct Map {
    builds: Mutex<HashMap<CacheKey, Entry>>,
    next_id: AtomicU64,
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
}

impl Finisher {
    pub fn finish(self, outcome: Outcome) {
        let mut builds = self.map.builds.lock();
        if builds.get(&self.key).is_some_and(|e| e.id == self.id) {
            builds.remove(&self.key);
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
    keep_abandoned: bool,
}

impl InFlight {
    /// Joins the build in flight for `key`, or starts one with `start`, which gets the
    /// [`Finisher`] and must spawn the task that calls it. `start` runs under the map's
    /// lock: it must only spawn, never wait.
    pub fn join_or_start(
        &self,
        key: &CacheKey,
        keep_abandoned: bool,
        start: impl FnOnce(Finisher) -> AbortHandle,
    ) -> Ticket {
        let mut builds = self.map.builds.lock();
        if let Some(entry) = builds.get_mut(key) {
            entry.waiters += 1;
            return Ticket {
                map: self.map.clone(),
                key: key.clone(),
                id: entry.id,
                role: Role::Joiner,
                done: entry.done.clone(),
                keep_abandoned,
            };
        }
        let id = self.map.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, done) = watch::channel(None);
        builds.insert(
            key.clone(),
            Entry {
                id,
                waiters: 1,
                done: done.clone(),
                task: None,
            },
        );
        let task = start(Finisher {
            map: self.map.clone(),
            key: key.clone(),
            id,
            tx,
        });
        // The task may already have finished and removed its entry.
        if let Some(entry) = builds.get_mut(key).filter(|e| e.id == id) {
            entry.task = Some(task);
        }
        Ticket {
            map: self.map.clone(),
            key: key.clone(),
            id,
            role: Role::Leader,
            done,
            keep_abandoned,
        }
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

impl Ticket {
    pub fn role(&self) -> Role {
        self.role
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
        if entry.waiters > 0 || self.keep_abandoned {
            return;
        }
        if let Some(entry) = builds.remove(&self.key) {
            if let Some(task) = entry.task {
                tracing::info!(key = %self.key, "last waiter left; cancelling the build");
                task.abort();
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
        Error::ShuttingDown => Error::ShuttingDown,
        Error::NotFound => Error::NotFound,
        Error::Panic(msg) => Error::Panic(msg.clone()),
        Error::NullArgument(arg) => Error::NullArgument(arg),
    }
}
