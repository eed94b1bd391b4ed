//! The cache key: byte-for-byte the seed plugin's SHA-256 of
//! `rr_version|os|arch|module@tag|...` (plugins sorted by module, then tag).
//!
//! Requests using Velox's build-changing fields get an extension appended to that string
//! before hashing, so that they never share an entry with the plain build:
//!
//! ```text
//! <seed string>\nvxm-key-ext/1[\nrace][\ndebug][\nreplace <old> <new>]...[\nexclude <module> <version>]...
//! ```
//!
//! Lines come in that order; replaces are sorted by (old, new), excludes by (module,
//! version). Validation keeps newlines, spaces and other whitespace out of every field,
//! so the seed string never contains `\n` (no extended key can equal a seed key) and
//! each line splits back into its parts one way only. A seed-format request (no replaces
//! or excludes, race and debug false) gets no extension: its key is the seed plugin's.
//! `request_id` and `force_rebuild` are not part of the key.

use sha2::{Digest, Sha256};

use super::BuildRequest;

/// 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// Accepts exactly 64 lowercase hex characters (what a cache file name holds).
    pub fn parse(s: &str) -> Option<CacheKey> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| CacheKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The marker line that starts the extension; bump its number if the format changes.
const EXTENSION_MARKER: &str = "vxm-key-ext/1";

pub(super) fn key(req: &BuildRequest) -> CacheKey {
    let digest = Sha256::digest(canonical(req).as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    CacheKey(hex)
}

/// The string that is hashed (exposed to the crate for logs and tests).
pub(crate) fn canonical(req: &BuildRequest) -> String {
    let mut plugins: Vec<(&str, &str)> = req
        .plugins
        .iter()
        .map(|p| (p.module_name.as_str(), p.tag.as_str()))
        .collect();
    plugins.sort_unstable();

    let mut s = String::with_capacity(64 + plugins.len() * 64);
    s.push_str(&req.rr_version);
    s.push('|');
    s.push_str(&req.target_platform.os);
    s.push('|');
    s.push_str(&req.target_platform.arch);
    for (module, tag) in plugins {
        s.push('|');
        s.push_str(module);
        s.push('@');
        s.push_str(tag);
    }

    let extended = req.race || req.debug || !req.replaces.is_empty() || !req.excludes.is_empty();
    if !extended {
        return s;
    }
    s.push('\n');
    s.push_str(EXTENSION_MARKER);
    if req.race {
        s.push_str("\nrace");
    }
    if req.debug {
        s.push_str("\ndebug");
    }
    let replaces = req
        .replaces
        .iter()
        .map(|r| (r.old.as_str(), r.new.as_str()));
    push_directives(&mut s, "replace", replaces);
    let excludes = req
        .excludes
        .iter()
        .map(|e| (e.module.as_str(), e.version.as_str()));
    push_directives(&mut s, "exclude", excludes);
    s
}

/// One `\n{word} {a} {b}` line per directive, sorted: the order the worker listed them in
/// does not change what is built, so it must not change the key.
fn push_directives<'a>(
    s: &mut String,
    word: &str,
    directives: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let mut directives: Vec<_> = directives.collect();
    directives.sort_unstable();
    for (a, b) in directives {
        s.push('\n');
        s.push_str(word);
        s.push(' ');
        s.push_str(a);
        s.push(' ');
        s.push_str(b);
    }
}
