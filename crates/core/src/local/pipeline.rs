//! Carries out one local build in its private workspace: asks the Go module proxy for
//! RoadRunner's source (unless the source is `generated`), lays out the base, then runs
//! the [`Recipe`]'s go commands in order, each in its own process group, recording them
//! in the build log.

use std::path::Path;
use std::time::SystemTime;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::log::BuildLog;
use super::plan::Plan;
use super::process::{run_step, StepOutput};
use super::recipe::{self, Base, GoCommand, Recipe};
use super::roadrunner_source::{self, Probe};
use crate::config::{LocalBuildConfig, SourceMode};
use crate::error::{Error, Result};

/// How much of go's error output becomes the `BuildFailed` message.
const MESSAGE_LIMIT: usize = 4 * 1024;

/// Carries out a build's [`Recipe`] (see `recipe.rs` for what runs and why).
pub(crate) struct Pipeline<'a> {
    pub(crate) cfg: &'a LocalBuildConfig,
    pub(crate) plan: &'a Plan,
    pub(crate) workspace: &'a Path,
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) log: BuildLog,
}

impl Pipeline<'_> {
    /// Runs every step; the binary ends up at `out_file`.
    pub(crate) async fn run(&mut self, out_file: &Path) -> Result<()> {
        let tmp = self.workspace.join("tmp");
        std::fs::create_dir(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        let base = self.base().await?;
        let recipe = Recipe::new(self.plan, &base, self.workspace, out_file, &build_time());
        match base {
            Base::RoadRunner(source) => {
                let to = recipe.dir.clone();
                tokio::task::spawn_blocking(move || roadrunner_source::copy_source(&source, &to))
                    .await
                    .map_err(|e| Error::Panic(format!("copying RoadRunner's source: {e}")))??;
            }
            Base::Generated => std::fs::create_dir(&recipe.dir)
                .map_err(|e| Error::io(format!("creating {}", recipe.dir.display()), e))?,
        }
        for (path, contents) in &recipe.files {
            write(path, contents)?;
        }
        for command in &recipe.commands {
            self.step(&recipe.dir, command).await?;
        }
        if !out_file.is_file() {
            return Err(self.failure("go build", "go build reported success but wrote no binary"));
        }
        Ok(())
    }

    async fn base(&mut self) -> Result<Base> {
        if self.cfg.source == SourceMode::Generated {
            return Ok(Base::Generated);
        }
        let spec = format!("{}@{}", self.plan.rr_module(), self.plan.rr_query());
        let out = self.go(self.workspace, &recipe::download(&spec)).await?;
        match roadrunner_source::parse_probe(&out.stdout, &out.stderr, out.status.success()) {
            Probe::Served(dir) => {
                tracing::info!(module = %spec, dir = %dir.display(), "building RoadRunner's own source");
                Ok(Base::RoadRunner(dir))
            }
            Probe::NotServed(reason) if self.cfg.source == SourceMode::Auto => {
                tracing::info!(
                    module = %spec,
                    reason = %reason,
                    "RoadRunner's source is not served by the Go module proxy; building the generated main, rr_version is its version label"
                );
                Ok(Base::Generated)
            }
            Probe::NotServed(reason) => Err(self.failure(
                "go mod download",
                &format!("RoadRunner source {spec} is not available: {reason}"),
            )),
        }
    }

    /// Runs a go command that must succeed.
    async fn step(&mut self, dir: &Path, command: &GoCommand) -> Result<StepOutput> {
        let out = self.go(dir, command).await?;
        if out.status.success() {
            return Ok(out);
        }
        let detail = if out.stderr.trim().is_empty() {
            &out.stdout
        } else {
            &out.stderr
        };
        let message = format!("{} ({})", error_text(detail, MESSAGE_LIMIT), out.status);
        Err(self.failure(command.step, &message))
    }

    /// Runs one go command in the build's environment and records it in the log.
    async fn go(&mut self, dir: &Path, command: &GoCommand) -> Result<StepOutput> {
        let env = recipe::environment(|k| std::env::var_os(k), self.workspace, &self.cfg.work_dir);
        let mut cmd = Command::new(&self.cfg.go_binary);
        cmd.current_dir(dir)
            .args(&command.args)
            .env_clear()
            .envs(env)
            .envs(command.env.iter().map(|(k, v)| (k, v)));
        let out = run_step(command.step, cmd, self.cancel).await?;
        self.log.record(command.step, &out);
        Ok(out)
    }

    fn failure(&self, step: &str, message: &str) -> Error {
        Error::BuildFailed {
            code: "internal".to_string(),
            message: format!("local build: `{step}` failed: {message}"),
            logs: self.log.text().to_string(),
        }
    }
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// go's error output without its progress lines, bounded to `max` bytes. The start is
/// kept: go names the root cause first, then repeats it for every importing package.
pub(crate) fn error_text(stderr: &str, max: usize) -> String {
    let mut text = String::new();
    for line in stderr.lines() {
        if line.starts_with("go: downloading ")
            || line.starts_with("go: finding ")
            || line.starts_with("go: extracting ")
            || line.trim().is_empty()
        {
            continue;
        }
        if text.len() + line.len() + 1 > max {
            if text.is_empty() {
                let mut end = max;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                text.push_str(&line[..end]);
            }
            text.push_str("\n...");
            break;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
    }
    text
}

/// The last `max` bytes of `s`, cut at a line start when one is near.
pub(crate) fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let cut = &s[start..];
    match cut.find('\n') {
        Some(nl) if nl < 200 => &cut[nl + 1..],
        _ => cut,
    }
}

/// Build time as RoadRunner's release builds stamp it (UTC, RFC 3339).
fn build_time() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days_since_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }

    #[test]
    fn error_text_drops_progress_lines_and_keeps_the_first_error() {
        let stderr = "go: downloading example.com/a v1.0.0\ngo: example.com/a: 404\n\nmore\n";
        assert_eq!(error_text(stderr, 100), "go: example.com/a: 404\nmore");
        assert_eq!(error_text(stderr, 25), "go: example.com/a: 404\n...");
        assert_eq!(error_text(&"x".repeat(10), 4), "xxxx\n...");
    }

    #[test]
    fn tail_keeps_the_end_and_starts_at_a_line() {
        let s = "first line\nsecond line\nthird";
        assert_eq!(tail(s, 100), s);
        assert_eq!(tail(s, 14), "third");
        assert_eq!(tail("ééé", 3), "é");
    }
}
