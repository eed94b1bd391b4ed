//! What each command prints: a human text and the same facts as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use super::provenance::Checked;
use super::Outcome;
use velox_core::cache::inspect::{EntryInfo, Inspection};
use velox_core::cache::Usage;
use velox_core::config::CacheConfig;
use velox_core::stats::Stats;

pub(super) fn stats(found: &Inspection, cfg: &CacheConfig, now: i64) -> Outcome {
    let bytes = found.bytes();
    let due = prune_plan(&found.entries, cfg, now);
    let due_count = due.iter().flatten().count();
    let kinds = problem_kinds(found);
    let mut text = String::new();
    let _ = writeln!(text, "directory  {}", found.directory.display());
    let _ = writeln!(
        text,
        "entries    {}{}",
        found.entries.len(),
        limit(cfg.max_entries, |n| n.to_string())
    );
    let _ = writeln!(
        text,
        "bytes      {}{}",
        human_bytes(bytes),
        limit(cfg.max_size_bytes, human_bytes)
    );
    let _ = writeln!(text, "policy     {}", cfg.eviction_policy.as_str());
    if !cfg.max_age.is_zero() {
        let _ = writeln!(text, "max age    {} days", cfg.max_age.as_secs() / 86_400);
    }
    let _ = writeln!(
        text,
        "accesses   {}",
        found.entries.iter().map(|e| e.access_count).sum::<u64>()
    );
    let _ = writeln!(text, "prunable   {due_count} (over the limits now)");
    if kinds.is_empty() {
        let _ = writeln!(text, "problems   none");
    } else {
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        let _ = writeln!(text, "problems   {} (run verify)", list.join(", "));
    }
    Outcome {
        text,
        json: json!({
            "directory": found.directory,
            "entries": found.entries.len(),
            "bytes": bytes,
            "policy": cfg.eviction_policy.as_str(),
            "max_entries": cfg.max_entries,
            "max_size_bytes": cfg.max_size_bytes,
            "max_age_seconds": cfg.max_age.as_secs(),
            "accesses": found.entries.iter().map(|e| e.access_count).sum::<u64>(),
            "prunable": due_count,
            "problems": kinds,
        }),
        code: 0,
    }
}

pub(super) fn ls(found: &Inspection, cfg: &CacheConfig, now: i64) -> Outcome {
    let due = prune_plan(&found.entries, cfg, now);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {} entries, {}, in {} eviction order (first = next to go)",
        found.entries.len(),
        human_bytes(found.bytes()),
        cfg.eviction_policy.as_str()
    );
    let _ = writeln!(
        text,
        "{:>4}  {:<16}  {:>9}  {:<12}  {:<13}  {:>7}  {:>9}  {:>9}  {:>5}  PRUNE",
        "#", "KEY", "SIZE", "RR", "PLATFORM", "PLUGINS", "CREATED", "ACCESSED", "HITS"
    );
    for (i, (e, d)) in found.entries.iter().zip(&due).enumerate() {
        let _ = writeln!(
            text,
            "{:>4}  {:<16}  {:>9}  {:<12}  {:<13}  {:>7}  {:>9}  {:>9}  {:>5}  {}",
            i + 1,
            &e.key[..16],
            human_bytes(e.size),
            e.rr_version,
            format!("{}/{}", e.os, e.arch),
            e.plugins,
            ago(now, e.created_at),
            ago(now, e.last_accessed),
            e.access_count,
            d.unwrap_or("-"),
        );
    }
    let entries: Vec<_> = found
        .entries
        .iter()
        .zip(&due)
        .map(|(e, d)| {
            let mut v = serde_json::to_value(e).expect("entry serialises");
            v["prune"] = json!(d);
            v
        })
        .collect();
    Outcome {
        text,
        json: json!({
            "directory": found.directory,
            "policy": cfg.eviction_policy.as_str(),
            "entries": entries,
        }),
        code: 0,
    }
}

pub(super) fn verify(found: &Inspection, content: bool, proven: Option<&[Checked]>) -> Outcome {
    // A temp file may be another process's commit in progress: reported, not a failure.
    let failures = found
        .problems
        .iter()
        .filter(|p| p.kind != "temp_file")
        .count()
        + proven
            .unwrap_or_default()
            .iter()
            .filter(|c| c.fails())
            .count();
    let mut text = String::new();
    let checked = if content {
        "sizes, orphans and content (every binary read to its end and hashed)"
    } else {
        "sizes and orphans"
    };
    let _ = writeln!(
        text,
        "checked {} entries in {}: {checked}",
        found.entries.len(),
        found.directory.display()
    );
    let unhashed = found.entries.iter().filter(|e| e.sha256.is_none()).count();
    if content && unhashed > 0 {
        let _ = writeln!(
            text,
            "note: {unhashed} entries record no sha256 yet (written by the seed plugin; a running cache hashes them): for those only the size is checked"
        );
    } else if !content {
        let _ = writeln!(
            text,
            "note: --content reads every binary and checks it against the recorded sha256 and size"
        );
    }
    for p in &found.problems {
        let _ = writeln!(text, "{:<16} {}: {}", p.kind, p.file, p.detail);
    }
    if let Some(proven) = proven {
        let _ = writeln!(
            text,
            "provenance: every binary's Go build information against the request its metadata describes"
        );
        for c in proven {
            let _ = writeln!(text, "{}", c.line());
        }
    }
    let _ = writeln!(
        text,
        "{}",
        if failures == 0 {
            "ok"
        } else {
            "problems found"
        }
    );
    let mut json = json!({
        "directory": found.directory,
        "entries": found.entries.len(),
        "content_checked": content,
        "checksums_recorded": found.entries.len() - unhashed,
        "problems": found.problems,
        "ok": failures == 0,
    });
    if let Some(proven) = proven {
        json["provenance"] = proven.iter().map(Checked::json).collect();
    }
    Outcome {
        text,
        json,
        code: i32::from(failures > 0),
    }
}

pub(super) fn prune(before: &Inspection, after: Usage, stats: &Stats) -> Outcome {
    // The stats list every reason from the start; the report names those that happened.
    let by_reason: BTreeMap<String, u64> = (stats.evictions_by_reason.snapshot().into_iter())
        .filter(|(_, n)| *n > 0)
        .collect();
    let evicted: u64 = by_reason.values().sum();
    let mut text = format!(
        "pruned {evicted} entries: {} entries ({}) -> {} entries ({})\n",
        before.entries.len(),
        human_bytes(before.bytes()),
        after.entries,
        human_bytes(after.bytes)
    );
    for (reason, n) in &by_reason {
        let _ = writeln!(text, "  {reason}: {n}");
    }
    Outcome {
        text,
        json: json!({
            "evicted": evicted,
            "by_reason": by_reason,
            "entries": after.entries,
            "bytes": after.bytes,
        }),
        code: 0,
    }
}

/// What `prune` would remove now, per entry (entries in eviction order): expired ones
/// first, then the first ones in order until the count and size limits hold.
fn prune_plan(entries: &[EntryInfo], cfg: &CacheConfig, now: i64) -> Vec<Option<&'static str>> {
    let max_age = i64::try_from(cfg.max_age.as_secs()).unwrap_or(i64::MAX);
    let mut plan: Vec<Option<&'static str>> = entries
        .iter()
        .map(|e| (max_age > 0 && e.created_at < now.saturating_sub(max_age)).then_some("age"))
        .collect();
    let mut count = plan.iter().filter(|p| p.is_none()).count() as u64;
    let mut bytes: u64 = entries
        .iter()
        .zip(&plan)
        .filter(|(_, p)| p.is_none())
        .map(|(e, _)| e.size)
        .sum();
    for (e, p) in entries.iter().zip(plan.iter_mut()) {
        if p.is_some() {
            continue;
        }
        let over_count = cfg.max_entries > 0 && count > cfg.max_entries;
        let over_size = cfg.max_size_bytes > 0 && bytes > cfg.max_size_bytes;
        if !over_count && !over_size {
            break;
        }
        *p = Some(if over_count { "count" } else { "size" });
        count -= 1;
        bytes -= e.size;
    }
    plan
}

fn problem_kinds(found: &Inspection) -> BTreeMap<&'static str, u64> {
    let mut kinds = BTreeMap::new();
    for p in &found.problems {
        *kinds.entry(p.kind).or_insert(0) += 1;
    }
    kinds
}

fn limit(max: u64, show: impl Fn(u64) -> String) -> String {
    if max == 0 {
        String::new()
    } else {
        format!(" of {}", show(max))
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn ago(now: i64, t: i64) -> String {
    let s = now.saturating_sub(t).max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}
