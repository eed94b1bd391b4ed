//! Verifying an entry already in the cache, from what its metadata records: the request
//! is rebuilt from `rr_version`, `platform` and `plugins`. The metadata does not record
//! `replaces`, `excludes`, `race` or `debug`; when the rebuilt request hashes to the
//! entry's key, the request had none of them and the check is complete, otherwise those
//! fields are reported as not checked.

use super::{read, verify, Provenance, ReadAt, ReadError};
use crate::cache::Metadata;
use crate::request::{BuildRequest, CacheKey};

/// What checking one entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryCheck {
    /// The binary answers the request; `partial` names what could not be checked.
    Verified {
        provenance: Provenance,
        partial: Option<String>,
    },
    /// The first difference, as a sentence.
    Mismatch(String),
    /// No Go build information to check (not a Go executable, or Go before 1.18).
    NotVerifiable(String),
}

/// Checks the binary behind `binary` against the request `meta` describes, and against
/// the provenance it records, if any. `Err` is an I/O error reading the binary.
pub fn check_entry(
    binary: &dyn ReadAt,
    meta: &Metadata,
    key: &CacheKey,
) -> std::io::Result<EntryCheck> {
    let info = match read(binary) {
        Ok(info) => info,
        Err(ReadError::Io(e)) => return Err(e),
        Err(e) => return Ok(EntryCheck::NotVerifiable(e.to_string())),
    };
    let mut req = BuildRequest::with_plugins(
        &meta.rr_version,
        &meta.platform.os,
        &meta.platform.arch,
        &[],
    );
    req.plugins = meta.plugins.clone();
    let complete = req.key() == *key;
    let mut partial = None;
    if !complete {
        // Asked with fields the metadata does not keep: take the binary's own race
        // setting (or the recorded one) rather than report a difference we cannot know.
        req.race = match &meta.provenance {
            Some(p) => p.race,
            None => info.modinfo.setting("-race") == Some("true"),
        };
        partial = Some(
            "replaces, excludes and race are not recorded in the metadata: not checked".to_owned(),
        );
    }
    let provenance = match verify(&req, &info.go_version, &info.modinfo) {
        Ok(p) => p,
        Err(difference) => return Ok(EntryCheck::Mismatch(difference)),
    };
    if let Some(recorded) = &meta.provenance {
        if *recorded != provenance {
            return Ok(EntryCheck::Mismatch(format!(
                "the binary is not the build its metadata records: {}",
                first_difference(recorded, &provenance)
            )));
        }
    }
    Ok(EntryCheck::Verified {
        provenance,
        partial,
    })
}

fn first_difference(recorded: &Provenance, found: &Provenance) -> String {
    let pairs = [
        (
            "go version",
            recorded.go_version.clone(),
            found.go_version.clone(),
        ),
        (
            "platform",
            format!("{}/{}", recorded.goos, recorded.goarch),
            format!("{}/{}", found.goos, found.goarch),
        ),
        ("race", recorded.race.to_string(), found.race.to_string()),
    ];
    for (what, r, f) in pairs {
        if r != f {
            return format!("{what}: recorded {r}, the binary has {f}");
        }
    }
    "module list differs from the recorded one".to_owned()
}
