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

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) rr_version: String,
    pub(crate) os: String,
    pub(crate) arch: String,
    /// Requested plugins, request order, no duplicates.
    pub(crate) plugins: Vec<ModuleVersion>,
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
        Ok(Plan {
            rr_version: req.rr_version.clone(),
            os: req.target_platform.os.clone(),
            arch: req.target_platform.arch.clone(),
            plugins,
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

    /// `rr_version` as a module query: always with the leading `v`.
    pub(crate) fn rr_tag(&self) -> String {
        if self.rr_version.starts_with('v') {
            self.rr_version.clone()
        } else {
            format!("v{}", self.rr_version)
        }
    }

    /// RoadRunner's module path for `rr_version`: the major version is the year since
    /// v2023 (`github.com/roadrunner-server/roadrunner/v2025`).
    pub(crate) fn rr_module(&self) -> String {
        let tag = self.rr_tag();
        let major: u64 = tag[1..]
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major >= 2 {
            format!("github.com/roadrunner-server/roadrunner/v{major}")
        } else {
            "github.com/roadrunner-server/roadrunner".to_string()
        }
    }
}

fn check_version(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.starts_with(|c: char| c == 'v' || c.is_ascii_digit())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Platform, Plugin};

    fn request(rr: &str, plugins: &[(&str, &str)]) -> BuildRequest {
        BuildRequest {
            request_id: None,
            target_platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
            },
            rr_version: rr.into(),
            plugins: plugins
                .iter()
                .map(|(m, t)| Plugin {
                    module_name: m.to_string(),
                    tag: t.to_string(),
                })
                .collect(),
            force_rebuild: false,
        }
    }

    #[test]
    fn derives_roadrunner_module_from_the_year_major() {
        let plan = Plan::from_request(&request("v2025.1.15", &[])).unwrap();
        assert_eq!(
            plan.rr_module(),
            "github.com/roadrunner-server/roadrunner/v2025"
        );
        let plan = Plan::from_request(&request("2024.3.0", &[])).unwrap();
        assert_eq!(plan.rr_tag(), "v2024.3.0");
        assert_eq!(
            plan.rr_module(),
            "github.com/roadrunner-server/roadrunner/v2024"
        );
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
