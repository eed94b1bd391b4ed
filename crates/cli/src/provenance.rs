//! `inspect KEY` (one entry's metadata, with the provenance it records) and
//! `verify --provenance` (every entry's binary against the request its metadata
//! describes). Both only read.

use std::fmt::Write;
use std::path::Path;

use serde_json::{json, Value};

use super::Outcome;
use velox_core::cache::inspect::{self, Inspection};
use velox_core::provenance::{EntryCheck, Provenance};
use velox_core::request::CacheKey;

pub(super) const NONE_RECORDED: &str =
    "no provenance recorded (written before verification or by the seed plugin)";

/// One entry's verdict.
#[derive(Debug)]
pub(super) struct Checked {
    pub key: String,
    /// `ok`, `mismatch`, `not_verifiable`, or `gone` (removed or changed meanwhile).
    pub verdict: &'static str,
    pub detail: Option<String>,
}

impl Checked {
    /// What makes `verify` fail: a running cache with `verify_builds` would not serve it.
    pub fn fails(&self) -> bool {
        matches!(self.verdict, "mismatch" | "not_verifiable")
    }

    pub fn json(&self) -> Value {
        json!({ "key": self.key, "verdict": self.verdict, "detail": self.detail })
    }

    pub fn line(&self) -> String {
        match &self.detail {
            Some(d) => format!("{:<16} {}: {d}", self.verdict, self.key),
            None => format!("{:<16} {}", self.verdict, self.key),
        }
    }
}

pub(super) fn check_all(found: &Inspection) -> Vec<Checked> {
    found
        .entries
        .iter()
        .filter_map(|e| CacheKey::parse(&e.key))
        .map(|key| check_one(&found.directory, &key))
        .collect()
}

fn check_one(dir: &Path, key: &CacheKey) -> Checked {
    let checked = |verdict, detail: Option<String>| Checked {
        key: key.to_string(),
        verdict,
        detail,
    };
    let meta = match inspect::metadata(dir, key) {
        Ok(Some(meta)) => meta,
        Ok(None) => return checked("gone", None),
        Err(e) => return checked("not_verifiable", Some(format!("metadata: {e}"))),
    };
    match inspect::check_provenance(dir, key, &meta) {
        Ok(Some(EntryCheck::Verified { partial, .. })) => checked("ok", partial),
        Ok(Some(EntryCheck::Mismatch(d))) => checked("mismatch", Some(d)),
        Ok(Some(EntryCheck::NotVerifiable(d))) => checked("not_verifiable", Some(d)),
        Ok(None) => checked("gone", Some("binary gone or not its recorded size".into())),
        Err(e) => checked(
            "not_verifiable",
            Some(format!("cannot read the binary: {e}")),
        ),
    }
}

pub(super) fn inspect(dir: &Path, key: &str) -> Result<Outcome, String> {
    let Some(key) = CacheKey::parse(key) else {
        return Ok(Outcome {
            text: format!("{key:?} is not a cache key (64 lowercase hex characters)\n"),
            json: json!({ "key": key, "error": "not a cache key" }),
            code: 2,
        });
    };
    let meta = inspect::metadata(dir, &key).map_err(|e| format!("{key}: {e}"))?;
    let Some(meta) = meta else {
        return Ok(Outcome {
            text: format!("no entry {key}\n"),
            json: json!({ "key": key.as_str(), "error": "no such entry" }),
            code: 1,
        });
    };
    let mut text = String::new();
    let _ = writeln!(text, "key        {key}");
    let _ = writeln!(text, "size       {} bytes", meta.file_size);
    let _ = writeln!(text, "rr         {}", meta.rr_version);
    let _ = writeln!(
        text,
        "platform   {}/{}",
        meta.platform.os, meta.platform.arch
    );
    for p in &meta.plugins {
        let _ = writeln!(text, "plugin     {} {}", p.module_name, p.tag);
    }
    let _ = writeln!(text, "created    {}", meta.created_at);
    let _ = writeln!(text, "accessed   {}", meta.last_accessed);
    let _ = writeln!(text, "hits       {}", meta.access_count);
    let _ = writeln!(text, "build      {} ms", meta.build_duration_ms);
    let _ = writeln!(
        text,
        "sha256     {}",
        meta.sha256.as_deref().unwrap_or("not recorded yet")
    );
    match &meta.provenance {
        Some(p) => provenance_text(&mut text, p),
        None => {
            let _ = writeln!(text, "provenance {NONE_RECORDED}");
        }
    }
    let mut json = serde_json::to_value(&meta).map_err(|e| e.to_string())?;
    json["key"] = json!(key.as_str());
    if meta.provenance.is_none() {
        json["provenance"] = Value::Null;
    }
    Ok(Outcome {
        text,
        json,
        code: 0,
    })
}

fn provenance_text(text: &mut String, p: &Provenance) {
    let _ = writeln!(
        text,
        "provenance {}, {}/{}, race {}",
        p.go_version,
        p.goos,
        p.goarch,
        if p.race { "on" } else { "off" }
    );
    for l in &p.plugins {
        let _ = writeln!(
            text,
            "  linked   {} {} (asked {})",
            l.module_name, l.version, l.tag
        );
    }
    for m in &p.modules {
        let _ = write!(text, "  module   {} {}", m.path, m.version);
        if let Some(r) = &m.replace {
            let _ = write!(
                text,
                " => {}",
                format!("{} {}", r.path, r.version).trim_end()
            );
        }
        text.push('\n');
    }
}
