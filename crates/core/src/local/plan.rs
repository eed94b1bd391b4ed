//! What a local build will do, derived from a [`BuildRequest`] and checked again here.
//!
//! The request module validates requests for the cache key; the builder checks once more
//! because these strings become Go source, command arguments and `-ldflags`, where a
//! quote, a space or a leading `-` would change what runs.

use crate::error::{Error, Result};
use crate::request::BuildRequest;

/// The config plugin every RoadRunner binary carries (RoadRunner's CLI adds it itself;
/// it is not part of `container/plugins.go`).
pub(crate) const CONFIG_MODULE_PREFIX: &str = "github.com/roadrunner-server/config/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleVersion {
    pub(crate) module: String,
    pub(crate) tag: String,
}

impl ModuleVersion {
    pub(crate) fn new(module: &str, tag: &str) -> ModuleVersion {
        ModuleVersion {
            module: module.to_string(),
            tag: tag.to_string(),
        }
    }

    pub(crate) fn spec(&self) -> String {
        format!("{}@{}", self.module, self.tag)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub(crate) rr_version: String,
    pub(crate) os: String,
    pub(crate) arch: String,
    /// Requested plugins, request order, no duplicates.
    pub(crate) plugins: Vec<ModuleVersion>,
    /// go.mod `replace old => new` directives.
    pub(crate) replaces: Vec<(String, String)>,
    /// go.mod `exclude module version` directives, as `module@version`.
    pub(crate) excludes: Vec<String>,
    /// `go build -race` (which needs cgo, as in Velox).
    pub(crate) race: bool,
    /// No optimisations, DWARF kept (`-gcflags all=-N -l`, no `-s -w`).
    pub(crate) debug: bool,
}

impl Plan {
    pub(crate) fn from_request(req: &BuildRequest) -> Result<Plan> {
        check_version("rr_version", &req.rr_version)?;
        check_word("target_platform.os", &req.target_platform.os)?;
        check_word("target_platform.arch", &req.target_platform.arch)?;
        let mut plugins: Vec<ModuleVersion> = Vec::with_capacity(req.plugins.len());
        for (i, p) in req.plugins.iter().enumerate() {
            check_module(&format!("plugins[{i}].module_name"), &p.module_name)?;
            check_version(&format!("plugins[{i}].tag"), &p.tag)?;
            if plugins.iter().any(|q| q.module == p.module_name) {
                return Err(Error::request(
                    format!("plugins[{i}].module_name"),
                    format!("{} is listed twice", p.module_name),
                ));
            }
            plugins.push(ModuleVersion::new(&p.module_name, &p.tag));
        }
        let mut replaces = Vec::with_capacity(req.replaces.len());
        for (i, r) in req.replaces.iter().enumerate() {
            let (module, version) = r.old.split_once('@').unwrap_or((&r.old, ""));
            check_module(&format!("replaces[{i}].old"), module)?;
            if !version.is_empty() {
                check_version(&format!("replaces[{i}].old"), version)?;
            }
            check_replacement(&format!("replaces[{i}].new"), &r.new)?;
            replaces.push((r.old.clone(), r.new.clone()));
        }
        let mut excludes = Vec::with_capacity(req.excludes.len());
        for (i, e) in req.excludes.iter().enumerate() {
            check_module(&format!("excludes[{i}].module"), &e.module)?;
            check_version(&format!("excludes[{i}].version"), &e.version)?;
            excludes.push(format!("{}@{}", e.module, e.version));
        }
        Ok(Plan {
            rr_version: req.rr_version.clone(),
            os: req.target_platform.os.clone(),
            arch: req.target_platform.arch.clone(),
            plugins,
            replaces,
            excludes,
            race: req.race,
            debug: req.debug,
        })
    }

    /// The file name of the binary in the output directory.
    pub(crate) fn binary_name(&self) -> &'static str {
        if self.os == "windows" {
            "rr.exe"
        } else {
            "rr"
        }
    }

    /// `rr_version` as a module query: `v` added to a bare number (`2025.1.15`);
    /// `master` and commit hashes as they are.
    pub(crate) fn rr_query(&self) -> String {
        if self.rr_version.starts_with(|c: char| c.is_ascii_digit())
            && self.rr_version.contains('.')
        {
            format!("v{}", self.rr_version)
        } else {
            self.rr_version.clone()
        }
    }

    /// RoadRunner's module path for `rr_version`: the major version is the year since
    /// v2023 (`github.com/roadrunner-server/roadrunner/v2025`). `master` and commit
    /// hashes are looked up in the newest line, [`NEWEST_RR_MAJOR`].
    pub(crate) fn rr_module(&self) -> String {
        let query = self.rr_query();
        let major = query
            .strip_prefix('v')
            .and_then(|rest| rest.split('.').next())
            .and_then(|m| m.parse::<u64>().ok())
            .filter(|_| query.contains('.'))
            .unwrap_or(NEWEST_RR_MAJOR);
        if major >= 2 {
            format!("github.com/roadrunner-server/roadrunner/v{major}")
        } else {
            "github.com/roadrunner-server/roadrunner".to_string()
        }
    }
}

/// The RoadRunner release line `master` and commit hashes belong to.
pub(crate) const NEWEST_RR_MAJOR: u64 = 2025;

/// Whether `go mod edit -require` accepts `v` as it is; anything else (`latest`, a commit
/// hash) is a query that `go get` resolves.
pub(crate) fn is_canonical_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let rest = rest.strip_suffix("+incompatible").unwrap_or(rest);
    if rest.contains('+') {
        return false;
    }
    let core = rest.split_once('-').map_or(rest, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn check_version(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::request(
            field,
            "must be a version such as v1.2.3 (letters, digits, `.`, `-`, `+`, `_`)",
        ))
    }
}

/// The right side of a `replace`: `module@version` or a local path on this machine.
fn check_replacement(field: &str, new: &str) -> Result<()> {
    if new.starts_with("./") || new.starts_with("../") || new.starts_with('/') {
        let ok = new.len() <= 256
            && new.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '/' | '+' | ',' | '-')
            });
        return if ok {
            Ok(())
        } else {
            Err(Error::request(
                field,
                "local path has characters outside [A-Za-z0-9._~/+,-]",
            ))
        };
    }
    match new.split_once('@') {
        Some((module, version)) => {
            check_module(field, module)?;
            check_version(field, version)
        }
        None => Err(Error::request(
            field,
            "must be module@version or a local path (./, ../ or /)",
        )),
    }
}

fn check_word(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::request(
            field,
            "must be a Go platform name (lowercase letters and digits)",
        ))
    }
}

fn check_module(field: &str, m: &str) -> Result<()> {
    let chars_ok = m
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '/'));
    let shape_ok = !m.is_empty()
        && m.len() <= 256
        && !m.starts_with(['-', '/', '.'])
        && !m.ends_with('/')
        && m.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && m.split('/').next().is_some_and(|host| host.contains('.'));
    if chars_ok && shape_ok {
        Ok(())
    } else {
        Err(Error::request(
            field,
            "must be a Go module path such as github.com/owner/name/v5",
        ))
    }
}

/// A plan for RoadRunner v2025.1.15 on linux/amd64 with `plugins` (module, tag), for
/// the unit tests of what is made from plans.
#[cfg(test)]
pub(crate) fn test_plan(plugins: &[(&str, &str)]) -> Plan {
    Plan {
        rr_version: "v2025.1.15".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        plugins: plugins
            .iter()
            .map(|(m, t)| ModuleVersion::new(m, t))
            .collect(),
        ..Plan::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(rr: &str, plugins: &[(&str, &str)]) -> BuildRequest {
        BuildRequest::with_plugins(rr, "linux", "amd64", plugins)
    }

    #[test]
    fn derives_roadrunner_module_from_the_year_major() {
        let plan = Plan::from_request(&request("v2025.1.15", &[])).unwrap();
        assert_eq!(
            plan.rr_module(),
            "github.com/roadrunner-server/roadrunner/v2025"
        );
        let plan = Plan::from_request(&request("2024.3.0", &[])).unwrap();
        assert_eq!(plan.rr_query(), "v2024.3.0");
        assert_eq!(
            plan.rr_module(),
            "github.com/roadrunner-server/roadrunner/v2024"
        );
        let plan = Plan::from_request(&request("master", &[])).unwrap();
        assert_eq!(plan.rr_query(), "master");
        assert_eq!(
            plan.rr_module(),
            "github.com/roadrunner-server/roadrunner/v2025"
        );
    }

    #[test]
    fn only_canonical_versions_go_to_go_mod_edit() {
        for v in [
            "v1.2.3",
            "v5.0.0-beta.1",
            "v2.0.0+incompatible",
            "v0.0.0-20240101000000-abcdef123456",
        ] {
            assert!(is_canonical_version(v), "{v}");
        }
        for v in [
            "latest",
            "master",
            "abcdef1",
            "v1.2",
            "1.2.3",
            "v1.2.3+build",
        ] {
            assert!(!is_canonical_version(v), "{v}");
        }
    }

    #[test]
    fn replaces_and_excludes_are_checked_and_kept() {
        let mut req = request("v2025.1.15", &[]);
        req.replaces = vec![crate::request::Replace {
            old: "github.com/a/b@v1.0.0".into(),
            new: "../fork".into(),
        }];
        req.excludes = vec![crate::request::Exclude {
            module: "github.com/c/d".into(),
            version: "v0.1.0".into(),
        }];
        let plan = Plan::from_request(&req).unwrap();
        assert_eq!(
            plan.replaces,
            [("github.com/a/b@v1.0.0".to_string(), "../fork".to_string())]
        );
        assert_eq!(plan.excludes, ["github.com/c/d@v0.1.0"]);

        req.replaces[0].new = "fork".into();
        let err = Plan::from_request(&req).unwrap_err();
        assert!(err.to_string().contains("replaces[0].new"), "{err}");
    }

    #[test]
    fn refuses_strings_that_would_change_go_source_or_arguments() {
        for (m, t) in [
            ("github.com/a/b\"; os.Exit(1) //", "v1.0.0"),
            ("-modfile=x", "v1.0.0"),
            ("github.com/a/../b", "v1.0.0"),
            ("github.com/a/b", "v1.0.0 -X x=y"),
            ("github.com/a/b", "-v"),
            ("localhost/b", "v1.0.0"),
        ] {
            let err = Plan::from_request(&request("v2025.1.15", &[(m, t)])).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{m}@{t}");
        }
        let err = Plan::from_request(&request("v2025 -s", &[])).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn refuses_a_module_listed_twice() {
        let err = Plan::from_request(&request(
            "v2025.1.15",
            &[("github.com/a/b", "v1.0.0"), ("github.com/a/b", "v1.0.1")],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("plugins[1].module_name"), "{err}");
    }
}
