//! What a local build runs, decided before anything runs: the go command lines, their
//! environment and the files written into the workspace. Nothing here touches the disk
//! or starts a process, so every choice is unit-tested without Go; `pipeline.rs` carries
//! a recipe out. The steps:
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

use super::generated_main;
use super::plan::{is_canonical_version, ModuleVersion, Plan};
use super::roadrunner_source;

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

/// The source a build starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Base {
    /// RoadRunner's own source, as the Go module proxy served it into this directory.
    RoadRunner(PathBuf),
    /// The generated `main.go` (see `generated_main.rs`).
    Generated,
}

/// `go <args>`, with `env` over the build's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoCommand {
    /// The name the log and error messages give it (`go mod tidy`).
    pub(crate) step: &'static str,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(&'static str, String)>,
}

impl GoCommand {
    fn new<S: Into<OsString>>(step: &'static str, args: impl IntoIterator<Item = S>) -> Self {
        GoCommand {
            step,
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }
}

/// A build from its base to its binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recipe {
    /// Where the go commands run: RoadRunner's source is copied there, or it is created.
    pub(crate) dir: PathBuf,
    /// Written before the first command, over what the base put there.
    pub(crate) files: Vec<(PathBuf, String)>,
    /// In order; each must succeed for the next to run.
    pub(crate) commands: Vec<GoCommand>,
}

impl Recipe {
    /// The build of `plan` from `base` in `workspace`, with the binary at `out_file`
    /// stamped with `build_time`.
    pub(crate) fn new(
        plan: &Plan,
        base: &Base,
        workspace: &Path,
        out_file: &Path,
        build_time: &str,
    ) -> Recipe {
        let (dir, target, version_flags, requirements) = match base {
            Base::RoadRunner(_) => (
                workspace.join("roadrunner"),
                "./cmd/rr",
                roadrunner_source::version_ldflags(plan, build_time),
                plan.plugins.clone(),
            ),
            Base::Generated => (
                workspace.join("rr"),
                ".",
                generated_main::version_ldflags(plan, build_time),
                generated_main::requirements(plan),
            ),
        };
        let (files, mut commands) = match base {
            Base::RoadRunner(_) => {
                let plugins_go = dir.join("container").join("plugins.go");
                (
                    vec![(plugins_go, roadrunner_source::plugins_go(plan))],
                    vec![],
                )
            }
            Base::Generated => (
                vec![(dir.join("main.go"), generated_main::main_go(plan))],
                vec![GoCommand::new(
                    "go mod init",
                    ["mod", "init", generated_main::MODULE_NAME],
                )],
            ),
        };
        commands.extend(requirement_commands(plan, &requirements));
        commands.push(GoCommand::new("go mod tidy", ["mod", "tidy"]));
        commands.push(go_build(plan, &version_flags, out_file, target));
        Recipe {
            dir,
            files,
            commands,
        }
    }
}

/// Asks the Go module proxy for RoadRunner's source (`spec` is `module@query`); see
/// `roadrunner_source::parse_probe` for its answer.
pub(crate) fn download(spec: &str) -> GoCommand {
    GoCommand::new("go mod download", ["mod", "download", "-json", spec])
}

/// Canonical versions are pinned with `go mod edit`; queries (`latest`, a commit hash)
/// need `go get` to resolve them. Either is left out when it would have nothing to do.
fn requirement_commands(plan: &Plan, requirements: &[ModuleVersion]) -> Vec<GoCommand> {
    let (pinned, queries): (Vec<&ModuleVersion>, Vec<&ModuleVersion>) = requirements
        .iter()
        .partition(|r| is_canonical_version(&r.tag));
    let mut edit: Vec<String> = pinned
        .iter()
        .map(|r| format!("-require={}", r.spec()))
        .collect();
    edit.extend(
        plan.replaces
            .iter()
            .map(|(old, new)| format!("-replace={old}={new}")),
    );
    edit.extend(plan.excludes.iter().map(|e| format!("-exclude={e}")));
    let mut commands = Vec::new();
    if !edit.is_empty() {
        let args = ["mod".to_string(), "edit".to_string()]
            .into_iter()
            .chain(edit);
        commands.push(GoCommand::new("go mod edit", args));
    }
    if !queries.is_empty() {
        let args = std::iter::once("get".to_string()).chain(queries.iter().map(|r| r.spec()));
        commands.push(GoCommand::new("go get", args));
    }
    commands
}

/// `go build` for the request's platform, `-race` and `debug`.
fn go_build(plan: &Plan, version_flags: &str, out_file: &Path, target: &str) -> GoCommand {
    let mut args: Vec<OsString> = vec!["build".into(), "-trimpath".into()];
    if plan.race {
        args.push("-race".into());
    }
    let ldflags = if plan.debug {
        args.push("-gcflags=all=-N -l".into());
        version_flags.to_string()
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
    let cgo = if plan.race { "1" } else { "0" };
    GoCommand {
        step: "go build",
        args,
        env: vec![
            ("GOOS", plan.os.clone()),
            ("GOARCH", plan.arch.clone()),
            ("CGO_ENABLED", cgo.to_string()),
        ],
    }
}

/// The environment every go command of a build starts from (the command's own `env`
/// goes on top): the inherited variables that `host` has, then the build's settings.
pub(crate) fn environment(
    host: impl Fn(&str) -> Option<OsString>,
    workspace: &Path,
    work_dir: &Path,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = INHERITED_ENV
        .iter()
        .filter_map(|key| Some((OsString::from(key), host(key)?)))
        .collect();
    let fixed = [
        ("GOFLAGS", "-mod=mod -buildvcs=false"),
        ("GOTOOLCHAIN", "local"),
        ("GOWORK", "off"),
        ("CGO_ENABLED", "0"),
    ];
    env.extend(fixed.map(|(k, v)| (k.into(), v.into())));
    // go's own scratch files stay in the workspace, so a killed build leaves none.
    env.push(("GOTMPDIR".into(), workspace.join("tmp").into()));
    for (key, value) in cache_fallbacks(&host, work_dir) {
        env.push((key.into(), value.into()));
    }
    env
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::plan::test_plan as plan;

    fn steps(recipe: &Recipe) -> Vec<&str> {
        recipe.commands.iter().map(|c| c.step).collect()
    }

    fn args(command: &GoCommand) -> Vec<&str> {
        command.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    const HTTP: (&str, &str) = ("github.com/roadrunner-server/http/v5", "v5.3.0");

    #[test]
    fn the_generated_main_is_written_initialised_pinned_tidied_and_built() {
        let ws = Path::new("/w");
        let r = Recipe::new(
            &plan(&[HTTP]),
            &Base::Generated,
            ws,
            Path::new("/o/rr"),
            "T",
        );
        assert_eq!(r.dir, ws.join("rr"));
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].0, ws.join("rr/main.go"));
        assert!(r.files[0]
            .1
            .contains("github.com/roadrunner-server/http/v5"));
        assert_eq!(
            steps(&r),
            ["go mod init", "go mod edit", "go mod tidy", "go build"]
        );
        assert_eq!(args(&r.commands[0]), ["mod", "init", "velox.local/rr"]);
        let edit = args(&r.commands[1]);
        assert_eq!(edit[..2], ["mod", "edit"]);
        assert!(edit.contains(&"-require=github.com/roadrunner-server/http/v5@v5.3.0"));
        assert!(edit
            .iter()
            .any(|a| a.starts_with("-require=github.com/roadrunner-server/endure/v2@")));
        let build = &r.commands[3];
        assert_eq!(
            args(build),
            [
                "build",
                "-trimpath",
                "-ldflags",
                "-s -w -X main.version=v2025.1.15 -X main.buildTime=T",
                "-o",
                "/o/rr",
                "."
            ]
        );
        assert_eq!(
            build.env,
            [
                ("GOOS", "linux".to_string()),
                ("GOARCH", "amd64".to_string()),
                ("CGO_ENABLED", "0".to_string())
            ]
        );
    }

    #[test]
    fn roadrunner_source_gets_its_plugins_file_and_queries_go_to_go_get() {
        let ws = Path::new("/w");
        let mut p = plan(&[HTTP, ("github.com/roadrunner-server/logger/v5", "latest")]);
        p.replaces = vec![("example.com/a".into(), "example.com/b@v1.0.0".into())];
        p.excludes = vec!["example.com/c@v0.1.0".into()];
        let base = Base::RoadRunner(PathBuf::from("/modcache/rr"));
        let r = Recipe::new(&p, &base, ws, Path::new("/o/rr"), "T");
        assert_eq!(r.dir, ws.join("roadrunner"));
        assert_eq!(r.files[0].0, ws.join("roadrunner/container/plugins.go"));
        assert_eq!(
            steps(&r),
            ["go mod edit", "go get", "go mod tidy", "go build"]
        );
        assert_eq!(
            args(&r.commands[0]),
            [
                "mod",
                "edit",
                "-require=github.com/roadrunner-server/http/v5@v5.3.0",
                "-replace=example.com/a=example.com/b@v1.0.0",
                "-exclude=example.com/c@v0.1.0"
            ]
        );
        assert_eq!(
            args(&r.commands[1]),
            ["get", "github.com/roadrunner-server/logger/v5@latest"]
        );
        assert_eq!(args(&r.commands[3]).last(), Some(&"./cmd/rr"));
    }

    #[test]
    fn nothing_to_pin_means_no_go_mod_edit() {
        let only_query = plan(&[("github.com/roadrunner-server/http/v5", "latest")]);
        let base = Base::RoadRunner(PathBuf::from("/src"));
        let r = Recipe::new(&only_query, &base, Path::new("/w"), Path::new("/o"), "T");
        assert_eq!(steps(&r), ["go get", "go mod tidy", "go build"]);
        let r = Recipe::new(&plan(&[]), &base, Path::new("/w"), Path::new("/o"), "T");
        assert_eq!(steps(&r), ["go mod tidy", "go build"]);
    }

    #[test]
    fn race_turns_cgo_on_and_debug_keeps_symbols() {
        let mut p = plan(&[HTTP]);
        p.race = true;
        p.debug = true;
        let r = Recipe::new(&p, &Base::Generated, Path::new("/w"), Path::new("/o"), "T");
        let build = r.commands.last().unwrap();
        let a = args(build);
        assert_eq!(
            a[..4],
            ["build", "-trimpath", "-race", "-gcflags=all=-N -l"]
        );
        assert_eq!(a[5], "-X main.version=v2025.1.15 -X main.buildTime=T");
        assert!(build.env.contains(&("CGO_ENABLED", "1".to_string())));
    }

    #[test]
    fn the_environment_keeps_only_go_s_variables_and_pins_the_build_settings() {
        let host = |k: &str| match k {
            "PATH" => Some("/usr/bin".into()),
            "HOME" => Some("/root".into()),
            "SECRET_TOKEN" | "GOFLAGS" => Some("leak".into()),
            _ => None,
        };
        let env = environment(host, Path::new("/w"), Path::new("/var/lib/velox"));
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            env,
            [
                pair("PATH", "/usr/bin"),
                pair("HOME", "/root"),
                pair("GOFLAGS", "-mod=mod -buildvcs=false"),
                pair("GOTOOLCHAIN", "local"),
                pair("GOWORK", "off"),
                pair("CGO_ENABLED", "0"),
                pair("GOTMPDIR", "/w/tmp"),
            ]
        );
        let homeless = environment(|_| None, Path::new("/w"), Path::new("/var/lib/velox"));
        assert!(homeless.contains(&("GOCACHE".into(), "/var/lib/velox/vxm-go-cache/build".into())));
    }

    #[test]
    fn the_proxy_is_asked_for_roadrunner_s_source_as_json() {
        let c = download("github.com/roadrunner-server/roadrunner/v2025@v2025.1.5");
        assert_eq!(c.step, "go mod download");
        assert_eq!(
            args(&c),
            [
                "mod",
                "download",
                "-json",
                "github.com/roadrunner-server/roadrunner/v2025@v2025.1.5"
            ]
        );
    }

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
}
