//! The local builder with the real Go toolchain and the Go module proxy. The first run
//! downloads modules and compiles for a minute or two on a small machine; later runs
//! reuse the module and build caches. Bounded: a build that takes longer than
//! `BUILD_LIMIT` is dropped (which kills it) and the test fails.

use velox_testkit::build_request;

use build_request::linux_request;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use velox_core::local::{LocalBuildConfig, LocalBuilder, SourceMode};
use velox_core::Error;

const BUILD_LIMIT: Duration = Duration::from_secs(600);

const PLUGINS: &[(&str, &str)] = &[
    ("github.com/roadrunner-server/server/v5", "v5.2.10"),
    ("github.com/roadrunner-server/http/v5", "v5.3.0"),
    ("github.com/roadrunner-server/logger/v5", "v5.1.9"),
];

fn builder(work_dir: &std::path::Path) -> LocalBuilder {
    // The generated main: the proxy here does not serve RoadRunner's own module, and the
    // assertions below are about the generated binary's `--version`.
    LocalBuilder::new(LocalBuildConfig {
        work_dir: work_dir.to_path_buf(),
        source: SourceMode::Generated,
        ..LocalBuildConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_build_of_server_http_logger_lists_its_plugins_and_serves() {
    let work = tempfile::tempdir().unwrap();
    let builder = builder(work.path());

    let build = tokio::time::timeout(
        BUILD_LIMIT,
        builder.build(&linux_request("amd64", PLUGINS), CancellationToken::new()),
    )
    .await
    .expect("the local build took longer than 10 minutes")
    .unwrap_or_else(|e| panic!("local build failed: {e}\n{e:?}"));
    eprintln!("local build took {:?}", build.duration);

    let head = std::fs::read(&build.path).unwrap();
    assert_eq!(&head[..4], b"\x7fELF", "not an ELF binary");
    // The workspace is gone; only the build's output directory is left.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);

    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return;
    }
    let out = Command::new(&build.path).arg("--version").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("rr --version:\n{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("rr version 2025.1.15 "),
        "unexpected version line: {stdout}"
    );
    for (module, tag) in PLUGINS {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim() == format!("{module} {tag}")),
            "{module} {tag} not listed:\n{stdout}"
        );
    }

    // The endure wiring works: with no `http`/`server` sections those plugins disable
    // themselves, the container starts, and SIGTERM stops it cleanly.
    let cfg = work.path().join("rr.yaml");
    std::fs::write(&cfg, "version: \"3\"\nlogs:\n  level: error\n").unwrap();
    let mut rr = Command::new(&build.path)
        .args(["serve", "-c"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(rr.stdout.take().unwrap()).lines();
    let started = lines
        .next()
        .expect("rr printed nothing")
        .expect("readable stdout");
    assert!(
        started.contains("RoadRunner server started; version: 2025.1.15"),
        "{started}"
    );
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our live child.
    unsafe { libc::kill(rr.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = rr.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            rr.kill().unwrap();
            panic!("rr did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "rr exited with {status}");

    drop(build);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(work.path()).unwrap().count() > 1 {
        assert!(Instant::now() < deadline, "output directory not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn nonexistent_module_gives_build_failed_with_gos_message() {
    let work = tempfile::tempdir().unwrap();
    let builder = builder(work.path());

    let err = tokio::time::timeout(
        Duration::from_secs(300),
        builder.build(
            &linux_request(
                "amd64",
                &[(
                    "github.com/roadrunner-server/nonexistent-plugin/v5",
                    "v5.0.0",
                )],
            ),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("bounded")
    .unwrap_err();

    match err {
        Error::BuildFailed { message, .. } => {
            eprintln!("BuildFailed: {message}");
            assert!(message.contains("go mod tidy"), "{message}");
            assert!(
                message.contains("github.com/roadrunner-server/nonexistent-plugin/v5"),
                "{message}"
            );
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(work.path()).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "workspace not removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
