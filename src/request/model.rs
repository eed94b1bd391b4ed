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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub request_id: Option<String>,
    pub target_platform: Platform,
    pub rr_version: String,
    pub plugins: Vec<Plugin>,
    pub force_rebuild: bool,
    // Velox's optional fields (replaces, excludes, race, debug) are added with validation.
}

impl BuildRequest {
    /// Parses and validates a worker's JSON body. Errors name the field at fault.
    pub fn parse(_json: &[u8]) -> Result<BuildRequest> {
        todo!("request: parse + validate")
    }

    pub fn key(&self) -> CacheKey {
        todo!("request: key")
    }

    /// The body of Velox's `BuildService/Build` call (Connect JSON).
    pub fn to_velox_json(&self) -> serde_json::Value {
        todo!("request: velox json")
    }
}
