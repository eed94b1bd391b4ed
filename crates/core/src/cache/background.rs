//! The periodic work of an open cache: flushing access statistics every
//! `access_update_interval` and cleaning up every `cleanup_interval`, on one thread that
//! `close` wakes and joins at once.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Inner;

pub(crate) struct Background {
    signal: Arc<Signal>,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct Signal {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Background {
    /// `None` when there is nothing periodic to do.
    pub(crate) fn start(inner: Arc<Inner>) -> Option<Background> {
        let flush_every = non_zero(inner.access_interval);
        let cleanup_every = non_zero(inner.cleanup_interval);
        if flush_every.is_none() && cleanup_every.is_none() {
            return None;
        }
        let signal = Arc::new(Signal::default());
        let thread_signal = signal.clone();
        let thread = std::thread::Builder::new()
            .name("vxm-cache".into())
            .spawn(move || run(&inner, &thread_signal, flush_every, cleanup_every));
        match thread {
            Ok(thread) => Some(Background { signal, thread }),
            Err(e) => {
                tracing::error!(error = %e, "could not start the cache's background thread");
                None
            }
        }
    }

    /// Wakes the thread and waits for it to finish what it is doing.
    pub(crate) fn stop(self) {
        *self.signal.stop.lock() = true;
        self.signal.wake.notify_all();
        if self.thread.join().is_err() {
            tracing::error!("the cache's background thread panicked");
        }
    }
}

fn non_zero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

fn run(
    inner: &Inner,
    signal: &Signal,
    flush_every: Option<Duration>,
    cleanup_every: Option<Duration>,
) {
    let start = Instant::now();
    let mut next_flush = flush_every.map(|d| start + d);
    let mut next_cleanup = cleanup_every.map(|d| start + d);
    loop {
        let deadline = match (next_flush, next_cleanup) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return,
        };
        {
            let mut stop = signal.stop.lock();
            while !*stop && Instant::now() < deadline {
                signal.wake.wait_until(&mut stop, deadline);
            }
            if *stop {
                return;
            }
        }
        let now = Instant::now();
        if let (Some(at), Some(every)) = (next_flush, flush_every) {
            if now >= at {
                if let Err(e) = super::access::flush(inner) {
                    tracing::warn!(error = %e, "periodic flush of access statistics failed");
                }
                next_flush = Some(now + every);
            }
        }
        if let (Some(at), Some(every)) = (next_cleanup, cleanup_every) {
            if now >= at {
                if let Err(e) = inner.cleanup() {
                    tracing::warn!(error = %e, "periodic cache cleanup failed");
                }
                next_cleanup = Some(now + every);
            }
        }
    }
}
