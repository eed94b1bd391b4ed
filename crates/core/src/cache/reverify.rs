//! Entries written before builds were verified, or by the seed plugin, carry no
//! `provenance`. With `verify_builds`, each is checked once on the cache's hashing
//! thread (at low priority, never on a hit): a match gets its provenance written into
//! its metadata with the next metadata write; a mismatch, or a binary with no Go build
//! information to check, is moved aside through the same removal path as any other
//! (the journal learns of it), logged and counted.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::index::Entry;
use super::{Disposal, Inner};
use crate::provenance::{self, EntryCheck};
use crate::stats::Stats;

/// Whether `entry` may still need checking (an entry known from the journal only is
/// settled once its metadata is read).
pub(crate) fn pending(inner: &Inner, entry: &Entry) -> bool {
    inner.verify_builds
        && entry.provenance.get().is_none()
        && entry.meta.as_ref().is_none_or(|m| m.provenance.is_none())
}

/// What the check did.
pub(crate) enum Outcome {
    /// Provenance known now (checked, or found recorded): the metadata needs a write
    /// when `write` is set.
    Settled {
        write: bool,
    },
    MovedAside,
    /// Not checked this time (gone, replaced, unreadable).
    Skipped,
}

/// Checks `entry`, whose binary `file` is.
pub(crate) fn check(inner: &Inner, entry: &Arc<Entry>, file: &File) -> Outcome {
    let meta = match entry.current_meta(&inner.dir) {
        Ok(Some(meta)) => meta,
        Ok(None) => return Outcome::Skipped,
        Err(e) => {
            tracing::warn!(key = %entry.key, error = %e, "cannot read a cache entry's metadata to verify it");
            return Outcome::Skipped;
        }
    };
    if let Some(recorded) = meta.provenance.clone() {
        let _ = entry.provenance.set(recorded);
        return Outcome::Settled { write: false };
    }
    let found = match provenance::check_entry(file, &meta, &entry.key) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(key = %entry.key, error = %e, "cannot read a cached binary to verify it");
            return Outcome::Skipped;
        }
    };
    let difference = match found {
        EntryCheck::Verified {
            provenance,
            partial,
        } => {
            tracing::info!(key = %entry.key, partial = partial.as_deref().unwrap_or("no"), "cached binary verified against its metadata; provenance recorded");
            let _ = entry.provenance.set(provenance);
            entry.access.dirty.store(true, Ordering::Release);
            return Outcome::Settled { write: true };
        }
        EntryCheck::Mismatch(d) => d,
        // `verify_builds` serves only what can be proved to be the requested build.
        EntryCheck::NotVerifiable(d) => format!("not verifiable: {d}"),
    };
    match inner.take_out(&entry.key, Some(entry), Disposal::MoveAside) {
        Ok(true) => {
            Stats::bump(&inner.stats.provenance_mismatches);
            tracing::warn!(key = %entry.key, difference = %difference, "cached binary is not the build its metadata describes: moved aside");
            Outcome::MovedAside
        }
        Ok(false) => Outcome::Skipped,
        Err(e) => {
            tracing::warn!(key = %entry.key, difference = %difference, error = %e, "cached binary is not the build its metadata describes, and could not be moved aside");
            Outcome::Skipped
        }
    }
}
