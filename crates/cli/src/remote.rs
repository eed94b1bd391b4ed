//! `velox-cache remote-ls | remote-verify | remote-prune`: the shared remote tier named by
//! `cache.remote` in `--config` (credentials from there or the `AWS_*` environment).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{Command, Options};
use velox_core::config::Config;
use velox_core::remote::objects::Verdict;
use velox_core::remote::RemoteTier;
use velox_core::request::CacheKey;
use velox_core::stats::Stats;

pub(super) fn main(command: &Command, opts: &Options) -> i32 {
    let tier = match tier(opts) {
        Ok(tier) => tier,
        Err(e) => {
            eprintln!("velox-cache: {e}");
            return 2;
        }
    };
    let result = velox_core::runtime::runtime().block_on(run(command, opts, &tier));
    super::finish(result.map_err(|e| format!("remote: {e}")), opts.json)
}

/// The `velox:` section of `--config`, parsed by the library (same keys, same errors).
fn tier(opts: &Options) -> Result<RemoteTier, String> {
    let path = opts
        .config
        .as_ref()
        .ok_or("remote commands need --config with cache.remote")?;
    let raw = std::fs::read(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|e| format!("--config {}: not JSON: {e}", path.display()))?;
    let section = v.get("velox").unwrap_or(&v);
    let remote = section.get("cache").and_then(|c| c.get("remote"));
    let config = Config::from_json(
        json!({ "cache": { "remote": remote } })
            .to_string()
            .as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let remote = config
        .remote
        .ok_or("--config has no cache.remote.url: no remote tier configured")?;
    RemoteTier::new(&remote, config.build_timeout, Arc::new(Stats::default()))
        .map_err(|e| e.to_string())
}

async fn run(
    command: &Command,
    opts: &Options,
    tier: &RemoteTier,
) -> Result<(String, Value, i32), object_store::Error> {
    let entries = tier.entries().await?;
    match command {
        Command::RemoteLs => {
            let mut text = format!(
                "{:<64}  {:>12}  {:>10}  META  LEASE\n",
                "KEY", "SIZE", "MODIFIED"
            );
            for e in &entries {
                let size = e.size.map_or("-".into(), |s| s.to_string());
                text += &format!(
                    "{:<64}  {size:>12}  {:>10}  {:<4}  {}\n",
                    e.key,
                    e.last_modified,
                    if e.metadata { "yes" } else { "no" },
                    if e.lease { "yes" } else { "no" },
                );
            }
            Ok((text, json!({ "entries": entries }), 0))
        }
        Command::RemoteVerify => {
            let (mut text, mut results, mut bad) = (String::new(), Vec::new(), 0);
            for e in entries.iter().filter(|e| e.size.is_some()) {
                let Some(key) = CacheKey::parse(&e.key) else {
                    continue;
                };
                let verdict = tier.verify(&key).await?;
                if verdict != Verdict::Ok {
                    bad += 1;
                    text += &format!("{}: {verdict:?}\n", e.key);
                }
                results.push(json!({ "key": e.key, "verdict": verdict }));
            }
            let checked = results.len();
            text += &format!("{checked} remote binaries checked, {bad} problems\n");
            Ok((
                text,
                json!({ "checked": checked, "problems": bad, "results": results }),
                i32::from(bad > 0),
            ))
        }
        Command::RemotePrune => {
            let Some(days) = opts.max_age_days.filter(|d| *d > 0) else {
                let text = "remote-prune needs --max-age-days N (N > 0)\n".to_owned();
                return Ok((
                    text,
                    json!({ "error": "remote-prune needs --max-age-days" }),
                    2,
                ));
            };
            let pruned = tier
                .prune_older_than(Duration::from_secs(days.saturating_mul(86_400)))
                .await?;
            let text = format!(
                "removed {} remote keys older than {days} days\n",
                pruned.len()
            );
            Ok((text, json!({ "removed": pruned }), 0))
        }
        _ => unreachable!("only remote commands come here"),
    }
}
