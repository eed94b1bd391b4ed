//! Admission of builds: at most `max_concurrent` run, at most `queue_limit` wait.
//!
//! A local build holds one or two cores for a minute or more; letting requests pile up
//! without bound would only turn a slow answer into a timeout for everyone, so the
//! builder refuses early with a retryable error instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    waiting: AtomicUsize,
    queue_limit: usize,
    /// Tickets of the waiters in arrival order (the semaphore serves them in this
    /// order), so that a waiter can be told its place (`position`).
    line: Mutex<VecDeque<u64>>,
    next_ticket: AtomicU64,
}

/// Frees the queue place when the waiter leaves (got a slot, was cancelled or dropped).
struct QueuePlace<'a> {
    admission: &'a Admission,
    ticket: u64,
    shown: &'a AtomicU64,
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
        self.admission.line.lock().retain(|t| *t != self.ticket);
        self.shown.store(0, Ordering::Release);
    }
}

impl Admission {
    pub(crate) fn new(max_concurrent: usize, queue_limit: usize) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            waiting: AtomicUsize::new(0),
            queue_limit,
            line: Mutex::new(VecDeque::new()),
            next_ticket: AtomicU64::new(1),
        }
    }

    /// Waits for a build slot. The permit is the slot: dropping it lets the next one in.
    /// While the build waits, `ticket` holds its queue ticket (see [`Admission::position`]);
    /// 0 otherwise.
    pub(crate) async fn enter(
        &self,
        cancel: &CancellationToken,
        ticket: &AtomicU64,
    ) -> Result<OwnedSemaphorePermit> {
        // tokio's semaphore hands released permits to waiters first, so this cannot
        // overtake a queued build.
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let place = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queue_limit).then_some(n + 1)
            });
        if place.is_err() {
            return Err(Error::UpstreamUnavailable {
                attempts: 1,
                message: format!(
                    "local build queue full ({} running, {} waiting)",
                    self.running(),
                    self.queue_limit
                ),
            });
        }
        let mine = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.line.lock().push_back(mine);
        ticket.store(mine, Ordering::Release);
        let _place = QueuePlace {
            admission: self,
            ticket: mine,
            shown: ticket,
        };
        tracing::info!(
            queued = self.queued(),
            running = self.running(),
            "local build queued"
        );
        tokio::select! {
            permit = self.slots.clone().acquire_owned() => {
                Ok(permit.expect("the build semaphore is never closed"))
            }
            _ = cancel.cancelled() => Err(Error::Cancelled),
        }
    }

    pub(crate) fn running(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
    }

    pub(crate) fn queued(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// The place (1 = next) of the waiter holding `ticket`; `None` when it is not waiting.
    pub(crate) fn position(&self, ticket: u64) -> Option<usize> {
        if ticket == 0 {
            return None;
        }
        self.line
            .lock()
            .iter()
            .position(|t| *t == ticket)
            .map(|i| i + 1)
    }
}
