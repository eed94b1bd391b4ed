//! Entries the seed plugin wrote carry no `sha256`. Each is hashed once, on a thread of
//! its own started at open (a hit that comes first hashes its entry itself, see
//! `ensure_hash`), and the hash is written into its metadata with the access
//! statistics, so the next open finds it recorded. The same thread, at low priority,
//! verifies the entries without provenance (`reverify`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::index::Entry;
use super::reverify::{self, Outcome};
use super::{access, ensure_hash, open, Inner};

pub(crate) struct Rehash {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Rehash {
    /// `None` when every entry has its hash already.
    pub(crate) fn start(inner: Arc<Inner>) -> Option<Rehash> {
        let pending: Vec<Arc<Entry>> = inner
            .index
            .read()
            .iter()
            .filter(|e| e.sha256.get().is_none() || reverify::pending(&inner, e))
            .cloned()
            .collect();
        if pending.is_empty() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vxm-cache-hash".into())
            .spawn(move || {
                lower_priority();
                run(&inner, &pending, &thread_stop)
            });
        match thread {
            Ok(thread) => Some(Rehash { stop, thread }),
            Err(e) => {
                tracing::warn!(error = %e, "could not start hashing the seed's entries; hits hash them instead");
                None
            }
        }
    }

    /// Waits until every pending entry is hashed and recorded.
    pub(crate) fn finish(self) {
        if self.thread.join().is_err() {
            tracing::error!("the cache's hashing thread panicked");
        }
    }

    /// Stops after the entry being hashed now.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("the cache's hashing thread panicked");
        }
    }
}

/// Background work must not slow down the builds and hits that share the machine.
fn lower_priority() {
    // SAFETY: plain system calls on this thread's own id.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10)
    };
    if rc != 0 {
        tracing::debug!("the cache's hashing thread runs at normal priority");
    }
}

fn run(inner: &Inner, pending: &[Arc<Entry>], stop: &AtomicBool) {
    let (mut hashed, mut verified, mut moved_aside) = (0u64, 0u64, 0u64);
    for entry in pending {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Gone or changed since the scan: the next cleanup deals with it.
        let Ok(Some(file)) = open::binary(&entry.bin_path, entry.size) else {
            continue;
        };
        let mut write = false;
        if entry.sha256.get().is_none() {
            if let Err(e) = ensure_hash(entry, &file) {
                tracing::warn!(key = %entry.key, error = %e, "could not hash a cached binary");
                continue;
            }
            hashed += 1;
            write = true;
        }
        if reverify::pending(inner, entry) {
            match reverify::check(inner, entry, &file) {
                Outcome::Settled { write: w } => {
                    verified += u64::from(w);
                    write |= w;
                }
                Outcome::MovedAside => {
                    moved_aside += 1;
                    continue;
                }
                Outcome::Skipped => {}
            }
        }
        if !write {
            continue;
        }
        entry.access.dirty.store(true, Ordering::Release);
        if let Err(e) = access::write_one(inner, entry) {
            tracing::warn!(key = %entry.key, error = %e, "could not record a content hash or provenance")
        }
    }
    tracing::info!(
        hashed,
        verified,
        moved_aside,
        pending = pending.len(),
        "content hashes and provenance recorded for entries written without them"
    );
}
