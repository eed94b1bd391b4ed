//! Provenance against real Go executables: small programs built here with the machine's
//! `go` from a known go.mod (a dependency served by a file-system module proxy made by
//! the test, a replace, cross builds to windows and darwin), read by the engine's reader
//! and checked against requests; and through the resolver, a fake Velox that drops
//! `replaces` (as released Velox servers do) is refused while one that honours it is
//! cached. Rules that real builds cannot show here (`-race` needs cgo) use the test
//! kit's ELF builder.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use velox_core::cache::Cache;
use velox_core::provenance::{self, Provenance};
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{BuildRequest, Config, Error, Source};
use velox_testkit::fake_velox::{FakeVelox, Reply};
use velox_testkit::go_exe::GoExe;
use velox_testkit::resolver_harness::{contents, resolve};

const DEP: &str = "example.com/dep";
/// The main module is RoadRunner's path, so that the major-version rule has something
/// to check.
const MAIN: &str = "github.com/roadrunner-server/roadrunner/v2025";

/// The programs, built once per test process.
struct Programs {
    _dir: tempfile::TempDir,
    /// linux/amd64, `example.com/dep v1.2.3`.
    plain: PathBuf,
    /// linux/amd64, `example.com/dep v1.2.3 => example.com/dep v1.3.0`.
    replaced: PathBuf,
    /// windows/amd64 (PE).
    windows: PathBuf,
    /// darwin/arm64 (Mach-O).
    darwin: PathBuf,
}

fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(build_programs)
}

fn build_programs() -> Programs {
    let go = which_go();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let proxy = root.join("proxy");
    for version in ["v1.2.3", "v1.3.0"] {
        publish(&proxy, root, version);
    }
    std::fs::write(proxy.join(DEP).join("@v/list"), "v1.2.3\nv1.3.0\n").unwrap();

    let app = |name: &str, replace: bool| {
        let src = root.join(name);
        std::fs::create_dir_all(&src).unwrap();
        let mut gomod = format!("module {MAIN}\n\ngo 1.21\n\nrequire {DEP} v1.2.3\n");
        if replace {
            gomod += &format!("\nreplace {DEP} => {DEP} v1.3.0\n");
        }
        std::fs::write(src.join("go.mod"), gomod).unwrap();
        std::fs::write(
            src.join("main.go"),
            format!("package main\n\nimport \"{DEP}\"\n\nfunc main() {{ println(dep.Version) }}\n"),
        )
        .unwrap();
        src
    };
    let plain_src = app("plain", false);
    let replaced_src = app("replaced", true);
    let build = |src: &Path, goos: &str, goarch: &str, out: &str| {
        let out = root.join(out);
        let status = Command::new(&go)
            .args(["build", "-trimpath", "-o"])
            .arg(&out)
            .arg(".")
            .current_dir(src)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", root)
            .env("GOPATH", root.join("gopath"))
            .env("GOMODCACHE", root.join("modcache"))
            // Shared by the test runs of this worktree: the standard library is then
            // compiled for each target once, not on every run.
            .env(
                "GOCACHE",
                velox_testkit::repo_root().join("target/provenance-gocache"),
            )
            .env("GOPROXY", format!("file://{}", proxy.display()))
            .env("GOFLAGS", "-mod=mod -buildvcs=false")
            .env("GOSUMDB", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .env("GOOS", goos)
            .env("GOARCH", goarch)
            .status()
            .expect("run go build");
        assert!(
            status.success(),
            "go build {goos}/{goarch} in {} failed",
            src.display()
        );
        out
    };
    Programs {
        plain: build(&plain_src, "linux", "amd64", "plain.bin"),
        replaced: build(&replaced_src, "linux", "amd64", "replaced.bin"),
        windows: build(&plain_src, "windows", "amd64", "windows.exe"),
        darwin: build(&plain_src, "darwin", "arm64", "darwin.bin"),
        _dir: dir,
    }
}

/// No silent skip: these tests need Go.
fn which_go() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("go"))
            .find(|p| p.is_file())
    });
    found.expect("the provenance tests build real Go executables: install Go (1.21+) on PATH")
}

/// `example.com/dep@version` in a file-system module proxy: `.info`, `.mod`, `.zip`.
fn publish(proxy: &Path, scratch: &Path, version: &str) {
    let at = proxy.join(DEP).join("@v");
    std::fs::create_dir_all(&at).unwrap();
    let gomod = format!("module {DEP}\n\ngo 1.21\n");
    std::fs::write(at.join(format!("{version}.mod")), &gomod).unwrap();
    std::fs::write(
        at.join(format!("{version}.info")),
        format!("{{\"Version\":\"{version}\",\"Time\":\"2024-01-01T00:00:00Z\"}}"),
    )
    .unwrap();
    let stage = scratch.join(format!("stage-{version}"));
    let module = stage.join(format!("{DEP}@{version}"));
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(module.join("go.mod"), &gomod).unwrap();
    std::fs::write(
        module.join("dep.go"),
        format!("package dep\n\nconst Version = \"{version}\"\n"),
    )
    .unwrap();
    let zip = at.join(format!("{version}.zip"));
    let status = Command::new("zip")
        .args(["-q", "-r", "-X"])
        .arg(&zip)
        .arg(format!("{DEP}@{version}"))
        .current_dir(&stage)
        .status()
        .expect("the provenance tests need the `zip` command");
    assert!(status.success(), "zip {version}");
}

fn request(os: &str, arch: &str, extra: serde_json::Value) -> BuildRequest {
    let mut json = serde_json::json!({
        "rr_version": "v2025.1.5",
        "target_platform": {"os": os, "arch": arch},
        "plugins": [{"module_name": DEP, "tag": "v1.2.3"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        json[k] = v.clone();
    }
    BuildRequest::parse(json.to_string().as_bytes()).unwrap()
}

fn linux(extra: serde_json::Value) -> BuildRequest {
    request("linux", "amd64", extra)
}

fn check(path: &Path, req: &BuildRequest) -> Result<Provenance, String> {
    let file = std::fs::File::open(path).unwrap();
    provenance::check(&file, req).map_err(|e| match e {
        Error::BuildMismatch { message } => message,
        other => panic!("not a mismatch: {other:?}"),
    })
}

fn replace_request() -> BuildRequest {
    linux(serde_json::json!({"replaces": [{"old": DEP, "new": format!("{DEP}@v1.3.0")}]}))
}

#[test]
fn a_real_linux_build_reads_and_matches_its_request() {
    let p = check(&programs().plain, &linux(serde_json::json!({}))).unwrap();
    assert!(p.go_version.starts_with("go1."), "{}", p.go_version);
    assert_eq!((p.goos.as_str(), p.goarch.as_str()), ("linux", "amd64"));
    assert_eq!(p.plugins[0].version, "v1.2.3");
    assert_eq!(p.modules[0].path, MAIN);
    assert!(p
        .modules
        .iter()
        .any(|m| m.path == DEP && m.replace.is_none()));
}

#[test]
fn a_plugin_at_another_version_is_named_with_both_versions() {
    let mut req = linux(serde_json::json!({}));
    req.plugins[0].tag = "v1.3.0".into();
    let message = check(&programs().plain, &req).unwrap_err();
    assert_eq!(
        message,
        "plugin example.com/dep: asked v1.3.0, the binary has v1.2.3"
    );
}

#[test]
fn a_branch_tag_accepts_the_linked_version_and_a_foreign_commit_does_not() {
    let mut req = linux(serde_json::json!({}));
    req.plugins[0].tag = "main".into();
    let p = check(&programs().plain, &req).unwrap();
    assert_eq!(
        p.plugins[0].version, "v1.2.3",
        "the resolved version is recorded"
    );
    req.plugins[0].tag = "abcdef1".into();
    let message = check(&programs().plain, &req).unwrap_err();
    assert!(
        message.starts_with("plugin example.com/dep: asked abcdef1"),
        "{message}"
    );
}

#[test]
fn a_missing_plugin_module_is_a_mismatch() {
    let mut req = linux(serde_json::json!({}));
    req.plugins[0].module_name = "example.com/other".into();
    let message = check(&programs().plain, &req).unwrap_err();
    assert!(message.contains("does not link the module"), "{message}");
}

#[test]
fn a_dropped_replace_is_refused_naming_older_velox_servers() {
    let message = check(&programs().plain, &replace_request()).unwrap_err();
    assert!(
        message.starts_with("replace example.com/dep => example.com/dep@v1.3.0"),
        "{message}"
    );
    assert!(
        message.contains("older Velox servers (v2025.1.x, v2025.2-beta) ignore `replaces`; upgrade Velox or drop the field"),
        "{message}"
    );
    let p = check(&programs().replaced, &replace_request()).unwrap();
    let dep = p.modules.iter().find(|m| m.path == DEP).unwrap();
    assert_eq!(dep.replace.as_ref().unwrap().version, "v1.3.0");
}

#[test]
fn a_replace_to_another_version_is_named() {
    let req =
        linux(serde_json::json!({"replaces": [{"old": DEP, "new": format!("{DEP}@v1.4.0")}]}));
    let message = check(&programs().replaced, &req).unwrap_err();
    assert_eq!(
        message,
        "replace example.com/dep => example.com/dep@v1.4.0: asked example.com/dep@v1.4.0, the binary has example.com/dep => example.com/dep v1.3.0"
    );
}

#[test]
fn an_excluded_version_linked_is_refused() {
    let req = linux(serde_json::json!({"excludes": [{"module": DEP, "version": "v1.2.3"}]}));
    let message = check(&programs().plain, &req).unwrap_err();
    assert!(
        message.starts_with("exclude example.com/dep v1.2.3"),
        "{message}"
    );
    assert!(message.contains("ignore `excludes`"), "{message}");
    let other = linux(serde_json::json!({"excludes": [{"module": DEP, "version": "v1.1.0"}]}));
    check(&programs().plain, &other).unwrap();
}

#[test]
fn cross_builds_are_read_from_pe_and_mach_o_and_checked_for_platform() {
    let win = check(
        &programs().windows,
        &request("windows", "amd64", serde_json::json!({})),
    )
    .unwrap();
    assert_eq!(win.goos, "windows");
    let mac = check(
        &programs().darwin,
        &request("darwin", "arm64", serde_json::json!({})),
    )
    .unwrap();
    assert_eq!(
        (mac.goos.as_str(), mac.goarch.as_str()),
        ("darwin", "arm64")
    );
    let message = check(&programs().windows, &linux(serde_json::json!({}))).unwrap_err();
    assert_eq!(
        message,
        "target_platform.os: asked linux, the binary has windows"
    );
    let message = check(
        &programs().darwin,
        &request("darwin", "amd64", serde_json::json!({})),
    )
    .unwrap_err();
    assert_eq!(
        message,
        "target_platform.arch: asked amd64, the binary has arm64"
    );
}

#[test]
fn another_roadrunner_major_is_refused() {
    let mut req = linux(serde_json::json!({}));
    req.rr_version = "v2024.3.0".into();
    let message = check(&programs().plain, &req).unwrap_err();
    assert_eq!(
        message,
        "rr_version: asked v2024.3.0 (github.com/roadrunner-server/roadrunner/v2024), the binary has github.com/roadrunner-server/roadrunner/v2025"
    );
}

#[test]
fn race_must_match_the_race_setting() {
    // -race needs cgo, which these builds go without: the test kit's ELF carries it.
    let asked = linux(serde_json::json!({"race": true}));
    let honoured = GoExe::for_request(&asked).to_bytes();
    let dropped = GoExe::ignoring_new_fields(&asked).to_bytes();
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::write(&good, honoured).unwrap();
    std::fs::write(&bad, dropped).unwrap();
    assert!(check(&good, &asked).unwrap().race);
    let message = check(&bad, &asked).unwrap_err();
    assert!(
        message.starts_with("race: asked true, the binary has false; older Velox servers"),
        "{message}"
    );
    let message = check(&good, &linux(serde_json::json!({}))).unwrap_err();
    assert_eq!(message, "race: asked false, the binary has true");
}

#[test]
fn files_that_are_not_go_executables_are_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text");
    std::fs::write(&text, b"#!/bin/sh\necho hi\n").unwrap();
    let message = check(&text, &linux(serde_json::json!({}))).unwrap_err();
    assert!(
        message.contains("not an ELF, PE or Mach-O executable"),
        "{message}"
    );
}

#[test]
fn reading_a_64_mib_binary_takes_under_5_ms() {
    let req = linux(serde_json::json!({}));
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(
        &big,
        GoExe::for_request(&req).padded_to(64 << 20).to_bytes(),
    )
    .unwrap();
    let file = std::fs::File::open(&big).unwrap();
    provenance::check(&file, &req).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..10 {
        provenance::check(&file, &req).unwrap();
    }
    let each = started.elapsed() / 10;
    assert!(each < Duration::from_millis(5), "{each:?} per check");
}

/// A resolver with a cache, its fake Velox answering `binary` for every build.
struct Served {
    _tmp: tempfile::TempDir,
    fake: FakeVelox,
    resolver: Arc<Resolver>,
    stats: Arc<Stats>,
    cache: Arc<Cache>,
}

async fn served_by(binary: &Path) -> Served {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let builds = root.join("builds");
    std::fs::create_dir_all(builds.join("out")).unwrap();
    let out = builds.join("out/rr");
    std::fs::copy(binary, &out).unwrap();
    let fake = FakeVelox::start(Reply::success(out.to_str().unwrap())).await;
    let json = serde_json::json!({
        "server_url": fake.url(),
        "cache": {"enabled": true, "directory": root.join("cache")},
        "allowed_build_dirs": [builds],
        "retry": {"max_attempts": 1},
    });
    let (resolver, stats, cache) = cached_resolver(json);
    Served {
        _tmp: tmp,
        fake,
        resolver,
        stats,
        cache,
    }
}

#[tokio::test]
async fn a_velox_that_drops_replaces_is_refused_and_nothing_is_cached() {
    let s = served_by(&programs().plain).await;
    let req = replace_request();
    let err = resolve(&s.resolver, req.clone(), None).await.unwrap_err();
    assert_eq!(err.code(), "build_mismatch");
    assert_eq!(err.http_status(), 502);
    assert!(
        err.to_string()
            .contains("ignore `replaces`; upgrade Velox or drop the field"),
        "{err}"
    );
    assert!(
        s.cache.lookup(&req.key()).unwrap().is_none(),
        "a mismatch was cached"
    );
    assert_eq!(s.stats.upstream_errors_by_code.get("build_mismatch"), 1);
    assert_eq!(s.stats.builds_failed.get("build_mismatch"), 1);
    assert_eq!(s.fake.call_count(), 1);
}

#[tokio::test]
async fn a_velox_that_honours_replaces_is_cached_with_its_provenance_and_served() {
    let s = served_by(&programs().replaced).await;
    let req = replace_request();
    let built = resolve(&s.resolver, req.clone(), None).await.unwrap();
    assert_eq!(built.source, Source::Built);
    assert_eq!(
        contents(&built),
        std::fs::read(&programs().replaced).unwrap()
    );
    let hit = resolve(&s.resolver, req.clone(), None).await.unwrap();
    assert_eq!(hit.source, Source::CacheHit);
    assert_eq!(s.fake.call_count(), 1);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(built.path.with_extension("json")).unwrap()).unwrap();
    let p = &json["provenance"];
    assert_eq!(p["goos"], "linux");
    assert!(p["go_version"].as_str().unwrap().starts_with("go1."));
    let dep = p["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == DEP)
        .unwrap();
    assert_eq!(dep["version"], "v1.2.3");
    assert_eq!(dep["replace"]["version"], "v1.3.0");
}

/// A resolver with the local builder, whose stand-in `go` "builds" by copying `binary`.
fn local_resolver(root: &Path, binary: &Path) -> (Arc<Resolver>, Arc<Stats>, Arc<Cache>) {
    use std::os::unix::fs::PermissionsExt;
    let go = root.join("go");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  build)\n    out=\"\"\n    while [ $# -gt 0 ]; do [ \"$1\" = \"-o\" ] && out=\"$2\"; shift; done\n    cp '{}' \"$out\"\n    ;;\nesac\nexit 0\n",
        binary.display()
    );
    std::fs::write(&go, script).unwrap();
    std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(root.join("work")).unwrap();
    let json = serde_json::json!({
        "local_build_enabled": true,
        "cache": {"enabled": true, "directory": root.join("cache")},
        "go_binary": go,
        "local_build_dir": root.join("work"),
        "local_build_source": "generated",
    });
    cached_resolver(json)
}

/// A resolver with the cache `json` configures, its stats and the cache.
fn cached_resolver(json: serde_json::Value) -> (Arc<Resolver>, Arc<Stats>, Arc<Cache>) {
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    let h = velox_testkit::resolver_harness::harness_with_cache(config);
    (h.resolver, h.stats, h.cache.expect("a cache"))
}

#[tokio::test]
async fn a_local_build_is_verified_like_a_velox_build() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (resolver, stats, cache) = local_resolver(&root, &programs().windows);
    let req = linux(serde_json::json!({}));
    let err = resolve(&resolver, req.clone(), None).await.unwrap_err();
    assert_eq!(err.code(), "build_mismatch", "{err}");
    assert!(
        err.to_string()
            .contains("asked linux, the binary has windows"),
        "{err}"
    );
    assert!(cache.lookup(&req.key()).unwrap().is_none());
    assert_eq!(stats.builds_failed.get("build_mismatch"), 1);

    let good = request("windows", "amd64", serde_json::json!({}));
    let built = resolve(&resolver, good.clone(), None).await.unwrap();
    assert_eq!(built.source, Source::Built);
    assert!(cache.lookup(&good.key()).unwrap().is_some());
}
