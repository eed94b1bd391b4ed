//! Admission of builds: at most `max_concurrent` run, at most `queue_limit` wait.
//!
//! A build holds a Velox worker or local cores for a minute or more; letting requests
//! pile up without bound would only turn a slow answer into a timeout for everyone (and
//! a `202` answered at once would hide the pile). So a build is refused early with
//! [`Error::Busy`] (`503` + `Retry-After`) instead. Two admissions use this: the
//! resolver's, for every builder (`max_concurrent_builds`, `build_queue_limit`), and the
//! local builder's own, for its cores (`local_builds`, `local_build_queue`).
//!
//! Admission is two steps so that a refusal is answered before anything is promised:
//! [`Admission::reserve`] decides at once (a slot, a place in the queue, or `Busy`);
//! [`Reservation::slot`] then waits in the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// Queue tickets are unique in the process, so a ticket names its queue and a build
/// waiting in either admission can be told its place with one number.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    waiting: AtomicUsize,
    queue_limit: usize,
    /// Tickets of the waiters in arrival order (the semaphore serves them in this
    /// order), so that a waiter can be told its place (`position`).
    line: Mutex<VecDeque<u64>>,
}

/// What [`Admission::reserve`] gave: a slot now, or a place in the queue.
pub(crate) enum Reservation {
    Slot(OwnedSemaphorePermit),
    Queued(QueuePlace),
}

/// Frees the queue place when the waiter leaves (got a slot, was cancelled or dropped).
pub(crate) struct QueuePlace {
    admission: Arc<Admission>,
    ticket: u64,
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
        self.admission.line.lock().retain(|t| *t != self.ticket);
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
        }
    }

    /// A slot if one is free, else a place in the queue, else [`Error::Busy`] telling
    /// the client to come back after `retry_after_secs`. Never waits.
    pub(crate) fn reserve(self: &Arc<Self>, retry_after_secs: u32) -> Result<Reservation> {
        // tokio's semaphore hands released permits to waiters first, so this cannot
        // overtake a queued build.
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Reservation::Slot(permit));
        }
        let place = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queue_limit).then_some(n + 1)
            });
        if place.is_err() {
            return Err(Error::Busy {
                running: self.running(),
                queued: self.queued(),
                retry_after_secs,
            });
        }
        let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        self.line.lock().push_back(ticket);
        tracing::info!(
            queued = self.queued(),
            running = self.running(),
            "build queued"
        );
        Ok(Reservation::Queued(QueuePlace {
            admission: self.clone(),
            ticket,
        }))
    }

    /// [`Admission::reserve`] then [`Reservation::slot`]: waits for a build slot.
    pub(crate) async fn enter(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        shown: &AtomicU64,
        retry_after_secs: u32,
    ) -> Result<OwnedSemaphorePermit> {
        self.reserve(retry_after_secs)?.slot(cancel, shown).await
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

impl Reservation {
    /// The queue ticket while waiting (see [`Admission::position`]), else 0.
    pub(crate) fn ticket(&self) -> u64 {
        match self {
            Reservation::Slot(_) => 0,
            Reservation::Queued(place) => place.ticket,
        }
    }

    /// Waits for the slot (the permit: dropping it lets the next one in). While it
    /// waits `shown` holds the queue ticket, for whoever reports the build's place.
    pub(crate) async fn slot(
        self,
        cancel: &CancellationToken,
        shown: &AtomicU64,
    ) -> Result<OwnedSemaphorePermit> {
        let place = match self {
            Reservation::Slot(permit) => return Ok(permit),
            Reservation::Queued(place) => place,
        };
        shown.store(place.ticket, Ordering::Release);
        let slots = place.admission.slots.clone();
        let got = tokio::select! {
            permit = slots.acquire_owned() => {
                Ok(permit.expect("the build semaphore is never closed"))
            }
            _ = cancel.cancelled() => Err(Error::Cancelled),
        };
        shown.store(0, Ordering::Release);
        drop(place);
        got
    }
}
