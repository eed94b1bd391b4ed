//! The local builder's pipeline, limits and cleanup, driven with a stand-in `go` (a shell
//! script) so these tests cost no CPU: it records its arguments and environment, and can
//! fail, block (with a grandchild in its process group) or "build" by copying its inputs
//! into the output file. The real toolchain is exercised in `local_build_real.rs`.

use velox_testkit::build_request;

use build_request::linux_request;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use velox_core::local::{LocalBuild, LocalBuildConfig, LocalBuilder, SourceMode};
use velox_core::request::{Exclude, Replace};
use velox_core::{BuildRequest, Error};

/// What the stand-in does for `go mod download -json`.
enum Download {
    Refused,
    Served(PathBuf),
}

/// What the stand-in does for `go mod tidy`.
enum Tidy {
    Ok,
    Fail,
    /// Writes its pid (= the process group id) to `tidy.pid`, then waits on two sleeps.
    Block,
}

struct FakeGo {
    dir: tempfile::TempDir,
    go: PathBuf,
}

impl FakeGo {
    fn new(download: Download, tidy: Tidy) -> FakeGo {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let download = match download {
            Download::Refused => r#"echo '{"Path":"github.com/roadrunner-server/roadrunner/v2025","Error":"reading https://proxy.example/...: 403 Forbidden"}'; exit 1"#.to_string(),
            Download::Served(src) => format!(r#"echo '{{"Path":"p","Version":"v","Dir":"{}"}}'"#, src.display()),
        };
        let tidy = match tidy {
            Tidy::Ok => "exit 0".to_string(),
            Tidy::Fail => "echo 'go: example.com/gone@v1.0.0: reading https://proxy.example/example.com/gone/@v/v1.0.0.info: 404 Not Found' >&2; exit 1".to_string(),
            Tidy::Block => format!("sleep 300 & echo $$ > {d}/tidy.pid.tmp; mv {d}/tidy.pid.tmp {d}/tidy.pid; sleep 300; wait"),
        };
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> {d}/calls
case "$1 $2" in
  "mod download") {download} ;;
  "mod tidy") {tidy} ;;
  "build -trimpath")
    env | sort > {d}/build.env
    out=""
    while [ $# -gt 0 ]; do
      if [ "$1" = "-o" ]; then out="$2"; fi
      shift
    done
    cat main.go container/plugins.go > "$out" 2>/dev/null
    exit 0 ;;
esac
exit 0
"#
        );
        let go = dir.path().join("go");
        std::fs::write(&go, script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeGo { dir, go }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn build_env(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("build.env")).unwrap()
    }

    /// Waits (bounded) until `go mod tidy` has started and returns its process group id.
    async fn wait_for_tidy(&self) -> i32 {
        let pid_file = self.dir.path().join("tidy.pid");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = std::fs::read_to_string(&pid_file) {
                return s.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "go mod tidy never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn builder(&self, work_dir: &Path, source: SourceMode) -> LocalBuilder {
        LocalBuilder::new(LocalBuildConfig {
            max_concurrent: 1,
            queue_limit: 1,
            work_dir: work_dir.to_path_buf(),
            go_binary: self.go.clone(),
            source,
        })
        .unwrap()
    }
}

/// A stand-in `go`, an empty work directory and a builder over both: where every test starts.
/// Bind every field (`_work`, not `_`): the directories live as long as the binding.
struct Rig {
    go: FakeGo,
    work: tempfile::TempDir,
    builder: LocalBuilder,
}

impl Rig {
    fn new(download: Download, tidy: Tidy, source: SourceMode) -> Rig {
        let go = FakeGo::new(download, tidy);
        let work = tempfile::tempdir().unwrap();
        let builder = go.builder(work.path(), source);
        Rig { go, work, builder }
    }
}

/// One build of `http_request()` that nothing cancels.
async fn build_http(builder: &LocalBuilder) -> Result<LocalBuild, Error> {
    builder
        .build(&http_request(), CancellationToken::new())
        .await
}

fn http_request() -> BuildRequest {
    linux_request(
        "arm64",
        &[
            ("github.com/roadrunner-server/server/v5", "v5.2.10"),
            ("github.com/roadrunner-server/http/v5", "v5.3.0"),
        ],
    )
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits (bounded) until `dir` is empty; background cleanup may still be running.
async fn wait_until_empty(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !entries(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind in {}: {:?}",
            dir.display(),
            entries(dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether any live (non-zombie) process is in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            return true;
        }
    }
    false
}

async fn wait_until_group_gone(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while group_alive(pgid) {
        assert!(
            Instant::now() < deadline,
            "process group {pgid} still has live members"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn generated_build_runs_the_go_steps_for_the_requested_platform() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Ok, SourceMode::Generated);

    let build = build_http(&builder).await.unwrap();

    let calls = go.calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(calls[0], "mod init velox.local/rr");
    assert_eq!(
        calls[1],
        "mod edit -require=github.com/roadrunner-server/endure/v2@v2.6.2 \
         -require=github.com/roadrunner-server/config/v5@v5.1.9 \
         -require=github.com/roadrunner-server/server/v5@v5.2.10 \
         -require=github.com/roadrunner-server/http/v5@v5.3.0"
    );
    assert_eq!(calls[2], "mod tidy");
    assert!(
        calls[3].starts_with(
            "build -trimpath -ldflags -s -w -X main.version=v2025.1.15 -X main.buildTime=20"
        ),
        "{}",
        calls[3]
    );
    assert!(calls[3].ends_with(&format!("-o {} .", build.path.display())));

    let env = go.build_env();
    for line in [
        "GOOS=linux",
        "GOARCH=arm64",
        "CGO_ENABLED=0",
        "GOFLAGS=-mod=mod -buildvcs=false",
        "GOTOOLCHAIN=local",
        "GOWORK=off",
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "{line} missing from:\n{env}"
        );
    }

    // The "binary" is the stand-in's copy of main.go: the plugins are registered.
    let main_go = std::fs::read_to_string(&build.path).unwrap();
    assert!(main_go.contains("p0 \"github.com/roadrunner-server/server/v5\""));
    assert!(main_go.contains("&p1.Plugin{},"));
    assert!(build.logs.contains("$ go mod tidy"), "{}", build.logs);

    // The workspace is gone; the output directory lives as long as the build value.
    let output_dir = build.path.parent().unwrap().to_path_buf();
    assert_eq!(
        entries(work.path()),
        [output_dir.file_name().unwrap().to_string_lossy()]
    );
    drop(build);
    wait_until_empty(work.path()).await;
}

#[tokio::test]
async fn replaces_excludes_queries_race_and_debug_reach_the_go_commands() {
    let Rig {
        go,
        work: _work,
        builder,
    } = Rig::new(Download::Refused, Tidy::Ok, SourceMode::Generated);
    let mut req = linux_request(
        "amd64",
        &[
            ("github.com/roadrunner-server/http/v5", "v5.3.0"),
            ("github.com/example/edge", "latest"),
        ],
    );
    req.replaces = vec![Replace {
        old: "github.com/roadrunner-server/pool".into(),
        new: "github.com/example/pool@v1.1.4".into(),
    }];
    req.excludes = vec![Exclude {
        module: "github.com/spf13/viper".into(),
        version: "v1.18.0".into(),
    }];
    req.race = true;
    req.debug = true;

    builder.build(&req, CancellationToken::new()).await.unwrap();

    let calls = go.calls();
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert_eq!(
        calls[1],
        "mod edit -require=github.com/roadrunner-server/endure/v2@v2.6.2 \
         -require=github.com/roadrunner-server/config/v5@v5.1.9 \
         -require=github.com/roadrunner-server/http/v5@v5.3.0 \
         -replace=github.com/roadrunner-server/pool=github.com/example/pool@v1.1.4 \
         -exclude=github.com/spf13/viper@v1.18.0"
    );
    assert_eq!(calls[2], "get github.com/example/edge@latest");
    assert_eq!(calls[3], "mod tidy");
    assert!(
        calls[4].starts_with("build -trimpath -race -gcflags=all=-N -l -ldflags -X main.version="),
        "{}",
        calls[4]
    );
    assert!(go.build_env().lines().any(|l| l == "CGO_ENABLED=1"));
}

#[tokio::test]
async fn auto_source_falls_back_to_the_generated_main_when_roadrunner_is_not_served() {
    let Rig {
        go,
        work: _work,
        builder,
    } = Rig::new(Download::Refused, Tidy::Ok, SourceMode::Auto);

    let build = build_http(&builder).await.unwrap();

    let calls = go.calls();
    assert_eq!(
        calls[0],
        "mod download -json github.com/roadrunner-server/roadrunner/v2025@v2025.1.15"
    );
    assert_eq!(calls[1], "mod init velox.local/rr");
    assert!(std::fs::read_to_string(&build.path)
        .unwrap()
        .contains("package main"));
}

#[tokio::test]
async fn served_roadrunner_source_is_built_with_its_plugins_go_rewritten() {
    // A read-only copy, like the module cache's.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("container")).unwrap();
    std::fs::create_dir_all(src.path().join("cmd/rr")).unwrap();
    std::fs::write(
        src.path().join("go.mod"),
        "module github.com/roadrunner-server/roadrunner/v2025\n",
    )
    .unwrap();
    std::fs::write(src.path().join("cmd/rr/main.go"), "package main\n").unwrap();
    let plugins_go = src.path().join("container/plugins.go");
    std::fs::write(&plugins_go, "package container\n// the bundled plugins\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugins_go, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let Rig { go, work, builder } = Rig::new(
        Download::Served(src.path().to_path_buf()),
        Tidy::Ok,
        SourceMode::Auto,
    );

    let build = build_http(&builder).await.unwrap();

    let calls = go.calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(
        calls[1],
        "mod edit -require=github.com/roadrunner-server/server/v5@v5.2.10 \
         -require=github.com/roadrunner-server/http/v5@v5.3.0"
    );
    let meta = "github.com/roadrunner-server/roadrunner/v2025/internal/meta";
    assert!(
        calls[3].contains(&format!(
            "-X {meta}.version=v2025.1.15 -X {meta}.buildTime="
        )),
        "{}",
        calls[3]
    );
    assert!(calls[3].ends_with(" ./cmd/rr"), "{}", calls[3]);

    let rewritten = std::fs::read_to_string(&build.path).unwrap();
    assert!(!rewritten.contains("the bundled plugins"), "{rewritten}");
    assert!(rewritten.contains("p1 \"github.com/roadrunner-server/http/v5\""));
    assert!(rewritten.contains("func Plugins() []any"));
    // The module cache copy is untouched.
    assert!(std::fs::read_to_string(&plugins_go)
        .unwrap()
        .contains("the bundled plugins"));
    drop(build);
    wait_until_empty(work.path()).await;
}

#[tokio::test]
async fn roadrunner_source_mode_fails_when_the_source_is_not_served() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Ok, SourceMode::RoadRunner);

    let err = build_http(&builder).await.unwrap_err();

    match err {
        Error::BuildFailed { message, .. } => {
            assert!(message.contains("403 Forbidden"), "{message}")
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert_eq!(go.calls().len(), 1);
    wait_until_empty(work.path()).await;
}

#[tokio::test]
async fn failing_go_command_gives_build_failed_with_its_error_output() {
    let Rig {
        go: _go,
        work,
        builder,
    } = Rig::new(Download::Refused, Tidy::Fail, SourceMode::Generated);

    let err = build_http(&builder).await.unwrap_err();

    assert_eq!(err.http_status(), 502);
    match err {
        Error::BuildFailed {
            code,
            message,
            logs,
        } => {
            assert_eq!(code, "internal");
            assert!(message.contains("go mod tidy"), "{message}");
            assert!(message.contains("example.com/gone@v1.0.0"), "{message}");
            assert!(message.contains("404 Not Found"), "{message}");
            assert!(logs.contains("$ go mod init"), "{logs}");
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    wait_until_empty(work.path()).await;
}

#[tokio::test]
async fn cancelling_kills_the_process_group_and_removes_the_workspace() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Block, SourceMode::Generated);
    let cancel = CancellationToken::new();

    let req = http_request();
    let build = builder.build(&req, cancel.clone());
    tokio::pin!(build);
    let pgid = tokio::select! {
        r = &mut build => panic!("build ended before tidy blocked: {r:?}"),
        pgid = go.wait_for_tidy() => pgid,
    };
    assert!(group_alive(pgid));
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), build)
        .await
        .expect("cancellation is prompt");

    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    // The builder waited for the group: nothing is left at the moment it returned.
    assert!(!group_alive(pgid), "go mod tidy's process group survived");
    assert!(
        entries(work.path()).is_empty(),
        "{:?}",
        entries(work.path())
    );
    assert_eq!(builder.running(), 0);
}

#[tokio::test]
async fn dropping_the_build_kills_the_process_group_and_removes_the_workspace() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Block, SourceMode::Generated);
    let builder = Arc::new(builder);

    let task = tokio::spawn({
        let builder = builder.clone();
        async move { build_http(&builder).await }
    });
    let pgid = go.wait_for_tidy().await;
    // What a caller's timeout does: the future is dropped mid-build.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    wait_until_group_gone(pgid).await;
    wait_until_empty(work.path()).await;
    assert_eq!(builder.running(), 0);
}

#[tokio::test]
async fn builds_beyond_the_queue_limit_are_refused_at_once() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Block, SourceMode::Generated);
    // One running, one waiting.
    let builder = Arc::new(builder);
    let cancel = CancellationToken::new();

    let spawn_build = || {
        let builder = builder.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { builder.build(&http_request(), cancel).await })
    };
    let running = spawn_build();
    let pgid = go.wait_for_tidy().await;
    let queued = spawn_build();
    let deadline = Instant::now() + Duration::from_secs(10);
    while builder.queued() < 1 {
        assert!(Instant::now() < deadline, "second build never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(builder.running(), 1);

    let started = Instant::now();
    let refused = build_http(&builder).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "refusal waited");
    match &refused {
        Error::Busy {
            running: 1,
            queued: 1,
            retry_after_secs,
        } => assert!(*retry_after_secs >= 1),
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(refused.http_status(), 503);

    cancel.cancel();
    assert!(matches!(running.await.unwrap(), Err(Error::Cancelled)));
    assert!(matches!(queued.await.unwrap(), Err(Error::Cancelled)));
    assert!(!group_alive(pgid));
    assert_eq!((builder.running(), builder.queued()), (0, 0));
    // The queued build never started a go command.
    assert_eq!(go.calls().iter().filter(|c| *c == "mod tidy").count(), 1);
    wait_until_empty(work.path()).await;
}

#[tokio::test]
async fn invalid_module_path_is_refused_before_any_go_command() {
    let Rig { go, work, builder } = Rig::new(Download::Refused, Tidy::Ok, SourceMode::Auto);

    let err = builder
        .build(
            &linux_request("amd64", &[("github.com/x/y\"; evil()", "v1.0.0")]),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();

    assert_eq!(err.code(), "invalid_request");
    assert!(err.to_string().contains("plugins[0].module_name"), "{err}");
    assert!(go.calls().is_empty());
    assert!(entries(work.path()).is_empty());
}

#[test]
fn zero_concurrent_builds_is_a_config_error() {
    let err = LocalBuilder::new(LocalBuildConfig {
        max_concurrent: 0,
        ..LocalBuildConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("local_builds"), "{err}");
}
