//! The request's fields, as the seed plugin and Velox name them.

use serde::{Deserialize, Serialize};

use super::CacheKey;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    pub module_name: String,
    pub tag: String,
}

/// A go.mod `replace old => new` directive, named as in Velox's `api.request.v1.Replace`.
/// `old` is `module` or `module@version`; `new` is `module@version` or a local path on
/// the build server (`./x`, `../x`, `/x`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Replace {
    pub old: String,
    pub new: String,
}

/// A go.mod `exclude module version` directive (Velox's `api.request.v1.Exclude`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Exclude {
    pub module: String,
    pub version: String,
}

/// A validated build request. Construct it with [`BuildRequest::parse`]; the key and
/// the Velox body assume the validation held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// A UUID when given; does not affect the key.
    pub request_id: Option<String>,
    pub target_platform: Platform,
    pub rr_version: String,
    /// In the order the worker sent them (the key sorts its own copy).
    pub plugins: Vec<Plugin>,
    /// Ask Velox to rebuild; does not affect the key.
    pub force_rebuild: bool,
    pub replaces: Vec<Replace>,
    pub excludes: Vec<Exclude>,
    /// Build with the race detector (Velox then builds with cgo).
    pub race: bool,
    /// Build without optimisations, with DWARF.
    pub debug: bool,
}

impl BuildRequest {
    /// Parses and validates a worker's JSON body. Errors name the field at fault
    /// (`plugins[2].tag`, `target_platform.os`, `body` when it is not a JSON object).
    ///
    /// The body is the seed plugin's format (`request_id`, `target_platform{os,arch}`,
    /// `rr_version`, `plugins[{module_name,tag}]`) plus Velox's optional `force_rebuild`,
    /// `replaces[{old,new}]`, `excludes[{module,version}]`, `race` and `debug`, in
    /// snake_case. **Unknown fields are refused** (`INVALID_REQUEST` naming the field, at
    /// any depth): a misspelt `replace` must not silently build something else.
    /// A key given twice in one object is refused too, naming its path. Optional fields
    /// may be `null`, which means absent; an empty `request_id` is absent.
    ///
    /// Bounds: body <= 1 MiB, 1..=100 plugins, <= 100 replaces and <= 100 excludes, every
    /// string 1..=256 bytes of printable ASCII without spaces or `|`.
    pub fn parse(json: &[u8]) -> Result<BuildRequest> {
        super::parse::parse(json)
    }

    /// A request for `rr_version` on `os/arch` with these `(module, tag)` plugins and none
    /// of the optional fields, as a value: nothing is validated (the fields are public
    /// anyway; `parse` is the way in for outside input). The local builder's tests need
    /// requests that validation would refuse.
    pub fn with_plugins(rr_version: &str, os: &str, arch: &str, plugins: &[(&str, &str)]) -> Self {
        BuildRequest {
            request_id: None,
            target_platform: Platform {
                os: os.into(),
                arch: arch.into(),
            },
            rr_version: rr_version.into(),
            plugins: plugins
                .iter()
                .map(|(m, t)| Plugin {
                    module_name: m.to_string(),
                    tag: t.to_string(),
                })
                .collect(),
            force_rebuild: false,
            replaces: vec![],
            excludes: vec![],
            race: false,
            debug: false,
        }
    }

    /// The cache key (see the `key` module for the exact format).
    pub fn key(&self) -> CacheKey {
        super::key::key(self)
    }

    /// The body of Velox's `BuildService/Build` call (Connect JSON, proto3 JSON names).
    pub fn to_velox_json(&self) -> serde_json::Value {
        super::velox::to_velox_json(self)
    }
}
