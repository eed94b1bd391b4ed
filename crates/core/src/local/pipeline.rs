//! The steps of one local build, in its private workspace:
//!
//! 1. (source `auto`/`roadrunner`) `go mod download -json <roadrunner module>@<rr_version>`;
//!    when served, copy it and rewrite `container/plugins.go`;
//!    otherwise write the generated `main.go` and `go mod init`.
//! 2. `go mod edit -require=<module>@<tag> ... -replace=... -exclude=...`
//!    (`go get` for tags that are queries: `latest`, commit hashes).
//! 3. `go mod tidy`.
//! 4. `go build -trimpath -ldflags "-s -w -X ..." -o <output>` with the request's
//!    GOOS/GOARCH and `CGO_ENABLED=0` (`-race` with cgo; `debug`: `-gcflags all=-N -l`
//!    and symbols kept).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::config::{LocalBuildConfig, SourceMode};
use super::generated_main;
use super::log::BuildLog;
use super::plan::{is_canonical_version, ModuleVersion, Plan};
use super::process::{run_step, StepOutput};
use super::roadrunner_source::{self, Probe};
use crate::error::{Error, Result};

/// How much of go's error output becomes the `BuildFailed` message.
const MESSAGE_LIMIT: usize = 4 * 1024;

/// Variables handed on to the go command; everything else in the host's environment
/// (RoadRunner's, PHP's) stays out of the build.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "TMPDIR",
    "GOROOT",
    "GOPATH",
    "GOENV",
    "GOPROXY",
    "GONOPROXY",
    "GOPRIVATE",
    "GOSUMDB",
    "GONOSUMDB",
    "GONOSUMCHECK",
    "GOINSECURE",
    "GOVCS",
    "GOAUTH",
    "GOMODCACHE",
    "GOCACHE",
    "GOMAXPROCS",
    "GOAMD64",
    "GOARM",
    "GOARM64",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

enum Base {
    RoadRunner(PathBuf),
    Generated,
}

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
        let build_time = build_time();

        let (dir, target, version_flags, requirements) = match self.base().await? {
            Base::RoadRunner(source) => {
                let dir = self.workspace.join("roadrunner");
                let to = dir.clone();
                tokio::task::spawn_blocking(move || roadrunner_source::copy_source(&source, &to))
                    .await
                    .map_err(|e| Error::Panic(format!("copying RoadRunner's source: {e}")))??;
                let plugins_go = dir.join("container").join("plugins.go");
                write(&plugins_go, &roadrunner_source::plugins_go(self.plan))?;
                (
                    dir,
                    "./cmd/rr",
                    roadrunner_source::version_ldflags(self.plan, &build_time),
                    self.plan.plugins.clone(),
                )
            }
            Base::Generated => {
                let dir = self.workspace.join("rr");
                std::fs::create_dir(&dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                write(&dir.join("main.go"), &generated_main::main_go(self.plan))?;
                self.step(
                    "go mod init",
                    &dir,
                    &["mod", "init", generated_main::MODULE_NAME],
                    &[],
                )
                .await?;
                (
                    dir,
                    ".",
                    generated_main::version_ldflags(self.plan, &build_time),
                    generated_main::requirements(self.plan),
                )
            }
        };

        // Canonical versions are pinned with `go mod edit`; queries (`latest`, a commit
        // hash) need `go get` to resolve them.
        let (pinned, queries): (Vec<&ModuleVersion>, Vec<&ModuleVersion>) = requirements
            .iter()
            .partition(|r| is_canonical_version(&r.tag));
        let mut edit: Vec<String> = vec!["mod".into(), "edit".into()];
        edit.extend(pinned.iter().map(|r| format!("-require={}", r.spec())));
        edit.extend(
            self.plan
                .replaces
                .iter()
                .map(|(old, new)| format!("-replace={old}={new}")),
        );
        edit.extend(self.plan.excludes.iter().map(|e| format!("-exclude={e}")));
        if edit.len() > 2 {
            self.step("go mod edit", &dir, &edit, &[]).await?;
        }
        if !queries.is_empty() {
            let mut get: Vec<String> = vec!["get".into()];
            get.extend(queries.iter().map(|r| r.spec()));
            self.step("go get", &dir, &get, &[]).await?;
        }
        self.step("go mod tidy", &dir, &["mod", "tidy"], &[])
            .await?;

        let mut args: Vec<OsString> = vec!["build".into(), "-trimpath".into()];
        if self.plan.race {
            args.push("-race".into());
        }
        let ldflags = if self.plan.debug {
            args.push("-gcflags=all=-N -l".into());
            version_flags
        } else {
            format!("-s -w {version_flags}")
        };
        args.extend([
            "-ldflags".into(),
            ldflags.into(),
            "-o".into(),
            out_file.as_os_str().to_owned(),
            target.into(),
        ]);
        // The race detector needs cgo; Velox turns it on for race builds too.
        let cgo = if self.plan.race { "1" } else { "0" };
        let platform = [
            ("GOOS", self.plan.os.as_str()),
            ("GOARCH", self.plan.arch.as_str()),
            ("CGO_ENABLED", cgo),
        ];
        self.step("go build", &dir, &args, &platform).await?;
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
        let out = self
            .go(
                "go mod download",
                self.workspace,
                &["mod", "download", "-json", spec.as_str()],
                &[],
            )
            .await?;
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
    async fn step<S: AsRef<std::ffi::OsStr>>(
        &mut self,
        step: &str,
        dir: &Path,
        args: &[S],
        extra_env: &[(&str, &str)],
    ) -> Result<StepOutput> {
        let out = self.go(step, dir, args, extra_env).await?;
        if out.status.success() {
            return Ok(out);
        }
        let detail = if out.stderr.trim().is_empty() {
            &out.stdout
        } else {
            &out.stderr
        };
        let message = format!("{} ({})", error_text(detail, MESSAGE_LIMIT), out.status);
        Err(self.failure(step, &message))
    }

    /// Runs one go command in the build's environment and records it in the log.
    async fn go<S: AsRef<std::ffi::OsStr>>(
        &mut self,
        step: &str,
        dir: &Path,
        args: &[S],
        extra_env: &[(&str, &str)],
    ) -> Result<StepOutput> {
        let mut cmd = Command::new(&self.cfg.go_binary);
        cmd.current_dir(dir).args(args).env_clear();
        for key in INHERITED_ENV {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("GOFLAGS", "-mod=mod -buildvcs=false")
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "0")
            // go's own scratch files stay in the workspace, so a killed build leaves none.
            .env("GOTMPDIR", self.workspace.join("tmp"));
        for (key, value) in cache_fallbacks(|k| std::env::var_os(k), &self.cfg.work_dir) {
            cmd.env(key, value);
        }
        for (key, value) in extra_env {
            cmd.env(key, value);
        }
        let out = run_step(step, cmd, self.cancel).await?;
        self.log.record(step, &out);
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

/// Where go keeps its caches when the host's environment does not say: a daemon started
/// without `HOME` would otherwise fail every build ("GOCACHE is not defined"). The
/// directories sit beside the workspaces and are kept, so later builds reuse them.
pub(crate) fn cache_fallbacks(
    env: impl Fn(&str) -> Option<OsString>,
    work_dir: &Path,
) -> Vec<(&'static str, PathBuf)> {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    let base = work_dir.join("vxm-go-cache");
    let mut out = Vec::new();
    if !set("HOME") && !set("GOCACHE") && !set("XDG_CACHE_HOME") {
        out.push(("GOCACHE", base.join("build")));
    }
    if !set("HOME") && !set("GOMODCACHE") && !set("GOPATH") {
        out.push(("GOMODCACHE", base.join("mod")));
    }
    out
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
    fn go_caches_fall_back_to_the_work_dir_only_without_home() {
        let work = Path::new("/var/lib/velox");
        let none = cache_fallbacks(|_| None, work);
        assert_eq!(
            none,
            [
                ("GOCACHE", work.join("vxm-go-cache/build")),
                ("GOMODCACHE", work.join("vxm-go-cache/mod"))
            ]
        );
        let with_home = cache_fallbacks(|k| (k == "HOME").then(|| "/root".into()), work);
        assert!(with_home.is_empty());
        let with_gopath = cache_fallbacks(|k| (k == "GOPATH").then(|| "/go".into()), work);
        assert_eq!(with_gopath, [("GOCACHE", work.join("vxm-go-cache/build"))]);
    }

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
