//! The C host programs in the repository's `tests/c/`, compiled with `cc -std=c11 -Wall -Wextra -Werror
//! -pthread` against the checked-in header and the built shared library, then run:
//! `abi_test.c` on its own, `resolve_test.c` against the Rust fake Velox on 127.0.0.1.
//!
//! The library is `VELOX_MIDDLEWARE_LIB` (the Makefile exports the release build's path)
//! or `libvelox_middleware.so` in this test binary's profile directory. A missing library
//! or compiler fails the test; `VXM_SKIP_C_PROGRAMS=1` is the only way to skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use velox_testkit::fake_velox::{FakeVelox, Reply};
use velox_testkit::repo_root;

const LIB_FILE: &str = "libvelox_middleware.so";
const HEADER: &str = "include/velox_middleware.h";
/// What `resolve_test.c` expects a build to produce.
const BINARY: &[u8] = b"\x7fELF fake roadrunner binary\n";

fn skipped() -> bool {
    let skip = std::env::var_os("VXM_SKIP_C_PROGRAMS").is_some_and(|v| v == "1");
    if skip {
        eprintln!("c_programs: skipped (VXM_SKIP_C_PROGRAMS=1)");
    }
    skip
}

/// The shared library the programs link against.
fn library() -> PathBuf {
    let lib = match std::env::var_os("VELOX_MIDDLEWARE_LIB") {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().expect("test binary path");
            // target/<profile>/deps/<test binary>
            let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
            profile_dir.join(LIB_FILE)
        }
    };
    assert!(
        lib.is_file(),
        "{} is missing: build it first (`make lib`, or `cargo build` for this profile), \
         point VELOX_MIDDLEWARE_LIB at it, or set VXM_SKIP_C_PROGRAMS=1",
        lib.display()
    );
    lib
}

/// Compiles `tests/c/<name>.c` into `out_dir` and returns the program's path.
fn compile(name: &str, out_dir: &Path) -> PathBuf {
    let root = repo_root();
    assert!(
        root.join(HEADER).is_file(),
        "no {HEADER} in {}",
        root.display()
    );
    let lib = library();
    let lib_dir = lib.parent().expect("library directory");
    let program = out_dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join("tests/c").join(format!("{name}.c")))
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lvelox_middleware")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&program)
        .output()
        .unwrap_or_else(|e| panic!("running {cc} (set CC, or VXM_SKIP_C_PROGRAMS=1): {e}"));
    assert!(
        output.status.success(),
        "{cc} {name}.c failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    program
}

fn assert_ran_ok(name: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(&format!("{name}: ok")),
        "{name}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
}

#[test]
fn abi_test() {
    if skipped() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let program = compile("abi_test", out.path());
    let output = Command::new(&program)
        .current_dir(out.path())
        .output()
        .expect("run abi_test");
    assert_ran_ok("abi_test", &output);
}

/// What `resolve_test.c` asks for, by the first plugin's tag: `...-hang` never answers,
/// `...-reject` is refused by validation, anything else builds a fresh file.
fn answer_by_tag(builds: PathBuf) -> impl Fn(&serde_json::Value) -> Reply + Send + Sync {
    let counter = AtomicU32::new(0);
    move |body| {
        let tag = body["plugins"][0]["tag"].as_str().unwrap_or_default();
        if tag.ends_with("-hang") {
            return Reply::Hang;
        }
        if tag.ends_with("-reject") {
            return Reply::connect(
                "invalid_argument",
                "validating request: plugins[0].tag: rejected",
            );
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let dir = builds.join(format!("build-{n}"));
        std::fs::create_dir_all(&dir).expect("build dir");
        let path = dir.join("rr");
        std::fs::write(&path, BINARY).expect("write the build");
        Reply::success(path.to_str().expect("utf-8 path"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_test() {
    if skipped() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let program = compile("resolve_test", work.path());
    // The library compares real paths: the build directory is given resolved.
    let builds = work.path().join("builds");
    std::fs::create_dir(&builds).unwrap();
    let builds = builds.canonicalize().unwrap();
    let journal = work.path().join("events");

    let fake = FakeVelox::start(Reply::bare(500)).await;
    fake.respond_with(answer_by_tag(builds.clone()));
    fake.journal_to(&journal);

    let child = tokio::process::Command::new(&program)
        .env("VXM_FAKE_URL", fake.url())
        .env("VXM_FAKE_EVENTS", &journal)
        .env("VXM_BUILD_DIR", &builds)
        .env("VXM_CACHE_DIR", work.path().join("cache"))
        .current_dir(work.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("resolve_test ran over 60 s")
        .expect("run resolve_test");
    assert_ran_ok("resolve_test", &output);
    // The builds the program asked for reached this fake, not some other server.
    let tags: Vec<String> = fake
        .calls()
        .iter()
        .filter_map(|c| c.body["plugins"][0]["tag"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        tags,
        ["v5.3.0", "v5.3.0-reject", "v5.3.1-hang", "v5.3.2-hang"],
        "calls seen by the fake"
    );
}
