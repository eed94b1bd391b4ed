//! The rules: the binary's build information against the request it answers. The first
//! difference is the answer, worded `<what>: asked <x>, the binary has <y>`.

use serde::{Deserialize, Serialize};

use super::modinfo::{ModInfo, Module};
use crate::request::BuildRequest;

/// RoadRunner's own module, without its major-version suffix.
const ROADRUNNER: &str = "github.com/roadrunner-server/roadrunner/v";

/// What the binary was verified to be, as the entry's metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub go_version: String,
    pub goos: String,
    pub goarch: String,
    pub race: bool,
    /// Each requested plugin with the version the binary links (a branch or commit
    /// tag resolves to a pseudo-version here).
    pub plugins: Vec<LinkedPlugin>,
    /// The main module first, then every dependency, with its replacement if any.
    pub modules: Vec<Module>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedPlugin {
    pub module_name: String,
    pub tag: String,
    pub version: String,
}

/// Checks `info` against `req`; `Err` is the first difference, as a sentence.
pub fn verify(req: &BuildRequest, go_version: &str, info: &ModInfo) -> Result<Provenance, String> {
    // GOOS inside the build information is what counts, not the container format: a
    // test fake may wrap a windows build in ELF, and the build server is trusted no
    // further than the build information anyway.
    let goos = info.setting("GOOS").unwrap_or("");
    let goarch = info.setting("GOARCH").unwrap_or("");
    let platform = &req.target_platform;
    if goos != platform.os {
        return Err(asked("target_platform.os", &platform.os, or_none(goos)));
    }
    if goarch != platform.arch {
        return Err(asked(
            "target_platform.arch",
            &platform.arch,
            or_none(goarch),
        ));
    }
    check_roadrunner(req, info)?;

    let mut plugins = Vec::with_capacity(req.plugins.len());
    for plugin in &req.plugins {
        let what = format!("plugin {}", plugin.module_name);
        let Some(module) = info.module(&plugin.module_name) else {
            return Err(format!(
                "{what}: asked {}, the binary does not link the module",
                plugin.tag
            ));
        };
        if !tag_matches(&plugin.tag, &module.version) {
            return Err(asked(&what, &plugin.tag, &module.version));
        }
        plugins.push(LinkedPlugin {
            module_name: plugin.module_name.clone(),
            tag: plugin.tag.clone(),
            version: module.version.clone(),
        });
    }

    for replace in &req.replaces {
        check_replace(&replace.old, &replace.new, info)?;
    }
    for exclude in &req.excludes {
        if info
            .module(&exclude.module)
            .is_some_and(|m| m.version == exclude.version)
        {
            return Err(format!(
                "exclude {} {}: the binary links exactly that version; {}",
                exclude.module,
                exclude.version,
                dropped_by_old_velox("excludes")
            ));
        }
    }
    let race = info.setting("-race") == Some("true");
    if race != req.race {
        let mut message = asked("race", &req.race.to_string(), &race.to_string());
        if req.race {
            message = format!("{message}; {}", dropped_by_old_velox("race"));
        }
        return Err(message);
    }
    // `debug` is not checked: Go records it only as free-form -gcflags/-ldflags, which
    // build servers spell differently.

    Ok(Provenance {
        go_version: go_version.to_owned(),
        goos: goos.to_owned(),
        goarch: goarch.to_owned(),
        race,
        plugins,
        modules: info.modules().cloned().collect(),
    })
}

fn asked(what: &str, asked: &str, has: &str) -> String {
    format!("{what}: asked {asked}, the binary has {has}")
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

/// The servers of the released Velox lines drop fields they do not know.
fn dropped_by_old_velox(field: &str) -> String {
    format!(
        "older Velox servers (v2025.1.x, v2025.2-beta) ignore `{field}`; upgrade Velox or drop the field"
    )
}

/// RoadRunner's major must be `rr_version`'s where RoadRunner's module is in the build
/// (the generated-main local build links plugins only, without it: nothing to check).
fn check_roadrunner(req: &BuildRequest, info: &ModInfo) -> Result<(), String> {
    let Some(major) = req
        .rr_version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
    else {
        return Ok(());
    };
    let linked = info.modules().find(|m| {
        m.path
            .strip_prefix(ROADRUNNER)
            .is_some_and(|suffix| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
    });
    match linked {
        Some(m) if m.path[ROADRUNNER.len()..] != *major => Err(format!(
            "rr_version: asked {} ({ROADRUNNER}{major}), the binary has {}",
            req.rr_version, m.path
        )),
        _ => Ok(()),
    }
}

/// `old` is `module` or `module@version`; `new` is `module@version` or a directory.
fn check_replace(old: &str, new: &str, info: &ModInfo) -> Result<(), String> {
    let (old_path, old_version) = split_at_version(old);
    let what = format!("replace {old} => {new}");
    let Some(module) = info.module(old_path) else {
        // A replace of a module the build does not link changes nothing Go records.
        return Ok(());
    };
    if old_version.is_some_and(|v| v != module.version) {
        // Go applies `old@version` only at that version: nothing to see at another one.
        return Ok(());
    }
    let Some(replaced) = &module.replace else {
        return Err(format!(
            "{what}: the binary links {} {} without the replacement; {}",
            module.path,
            module.version,
            dropped_by_old_velox("replaces")
        ));
    };
    let (new_path, new_version) = split_at_version(new);
    let is_dir = new.starts_with("./") || new.starts_with("../") || new.starts_with('/');
    let same = if is_dir {
        replaced.path == new
    } else {
        replaced.path == new_path && new_version.is_none_or(|v| v == replaced.version)
    };
    if same {
        return Ok(());
    }
    let has = format!("{} => {} {}", module.path, replaced.path, replaced.version);
    Err(asked(&what, new, has.trim_end()))
}

fn split_at_version(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (s, None),
    }
}

/// A semantic-version tag must be linked exactly; a commit must be the pseudo-version's
/// revision; anything else (a branch, `latest`) is whatever the build resolved it to.
fn tag_matches(tag: &str, linked: &str) -> bool {
    if is_semver(tag) {
        return tag == linked;
    }
    if is_commit(tag) {
        return pseudo_revision(linked).is_some_and(|rev| {
            let n = rev.len().min(tag.len());
            rev[..n].eq_ignore_ascii_case(&tag[..n])
        });
    }
    true
}

/// `vMAJOR.MINOR.PATCH` with an optional pre-release or build suffix.
fn is_semver(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_commit(tag: &str) -> bool {
    (7..=40).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The 12-hex revision at the end of a pseudo-version (`v0.0.0-20240101120000-abcdef123456`).
fn pseudo_revision(version: &str) -> Option<&str> {
    let (before, rev) = version.rsplit_once('-')?;
    let stamp = before.rsplit(['-', '.']).next()?;
    let ok = rev.len() == 12
        && rev.bytes().all(|b| b.is_ascii_hexdigit())
        && stamp.len() == 14
        && stamp.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_as_semver_commit_or_branch() {
        assert!(tag_matches("v1.2.3", "v1.2.3"));
        assert!(!tag_matches("v1.2.3", "v1.2.0"));
        let pseudo = "v0.0.0-20240101120000-abcdef123456";
        assert!(tag_matches("abcdef1", pseudo));
        assert!(tag_matches("abcdef123456789", pseudo));
        assert!(!tag_matches("abcdef2", pseudo));
        assert!(!tag_matches("abcdef1", "v1.0.0"));
        assert!(tag_matches("master", pseudo));
        assert_eq!(
            pseudo_revision("v1.2.4-0.20240101120000-abcdef123456"),
            Some("abcdef123456")
        );
        assert_eq!(pseudo_revision("v1.2.3-rc.1"), None);
    }
}
