//! `{key}.json`: the seed plugin's metadata, read as it writes it (Go's
//! `json.MarshalIndent` with two spaces) and written so that it reads ours.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use super::content::is_sha256_hex;
use super::layout::{self, JSON_EXT};
use super::open;
use crate::request::{BuildRequest, CacheKey, Platform, Plugin};

pub(crate) const METADATA_VERSION: &str = "1.0";

/// Field names, order and types are the seed's `CacheEntry`, plus `sha256` last (the
/// seed's reader ignores fields it does not know); fields a newer writer adds are kept
/// in `extra` so that rewriting access statistics never drops them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub version: String,
    pub hash: String,
    pub binary_file: String,
    pub file_size: u64,
    pub rr_version: String,
    pub platform: Platform,
    /// Go writes a nil slice as `null`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub plugins: Vec<Plugin>,
    pub created_at: i64,
    pub last_accessed: i64,
    #[serde(default)]
    pub access_count: u64,
    #[serde(default)]
    pub build_duration_ms: i64,
    /// SHA-256 of the binary, 64 lowercase hex. Absent in entries the seed wrote until
    /// the cache has hashed them once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Plugin>, D::Error> {
    Ok(Option::<Vec<Plugin>>::deserialize(d)?.unwrap_or_default())
}

/// Why a metadata file cannot describe the entry it is named after.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetaError {
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    #[error("not valid metadata JSON: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("hash {found:?} does not match the file name")]
    HashMismatch { found: String },
    #[error("binary_file {found:?} is not {expected:?}")]
    BinaryFileMismatch { found: String, expected: String },
    #[error("sha256 {found:?} is not 64 lowercase hex characters")]
    BadSha256 { found: String },
}

impl MetaError {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, MetaError::Read(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl Metadata {
    pub(crate) fn new(
        req: &BuildRequest,
        key: &CacheKey,
        size: u64,
        now: i64,
        build_ms: u64,
        sha256: String,
    ) -> Metadata {
        Metadata {
            version: METADATA_VERSION.to_owned(),
            hash: key.as_str().to_owned(),
            binary_file: layout::bin_name(key),
            file_size: size,
            rr_version: req.rr_version.clone(),
            platform: req.target_platform.clone(),
            plugins: req.plugins.clone(),
            created_at: now,
            last_accessed: now,
            // The seed counts the build itself as the first access.
            access_count: 1,
            build_duration_ms: i64::try_from(build_ms).unwrap_or(i64::MAX),
            sha256: Some(sha256),
            extra: serde_json::Map::new(),
        }
    }

    /// Reads `{key}.json` and checks that it describes `key` (never a path elsewhere:
    /// `binary_file` must be `{key}.bin`).
    /// A symbolic link, a FIFO or a file larger than any metadata in its place is an
    /// error, never followed or waited for.
    pub(crate) fn load(dir: &Path, key: &CacheKey) -> Result<Metadata, MetaError> {
        let bytes = open::read_small(&layout::json_path(dir, key), open::METADATA_MAX)
            .and_then(|b| b.ok_or_else(|| io::ErrorKind::NotFound.into()))
            .map_err(MetaError::Read)?;
        Metadata::parse(&bytes, key)
    }

    pub(crate) fn parse(bytes: &[u8], key: &CacheKey) -> Result<Metadata, MetaError> {
        let meta: Metadata = serde_json::from_slice(bytes).map_err(MetaError::Parse)?;
        if meta.hash != key.as_str() {
            return Err(MetaError::HashMismatch { found: meta.hash });
        }
        let expected = layout::bin_name(key);
        if meta.binary_file != expected {
            return Err(MetaError::BinaryFileMismatch {
                found: meta.binary_file,
                expected,
            });
        }
        if let Some(found) = meta.sha256.as_ref().filter(|h| !is_sha256_hex(h)) {
            return Err(MetaError::BadSha256 {
                found: found.clone(),
            });
        }
        Ok(meta)
    }

    /// Go's `MarshalIndent(entry, "", "  ")` layout: same indent, same field order.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("metadata always serialises")
    }

    /// Writes to a temp file, syncs it and renames it to `{key}.json`. The rename is the
    /// commit point; the caller syncs the directory when durability of the rename matters.
    pub(crate) fn write(&self, dir: &Path, key: &CacheKey) -> io::Result<()> {
        let temp = layout::temp_path(dir, JSON_EXT);
        let result = write_synced(&temp, &self.to_json())
            .and_then(|()| fs::rename(&temp, layout::json_path(dir, key)));
        if result.is_err() {
            let _ = layout::remove_if_exists(&temp);
        }
        result
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f: File = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey::parse(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn writes_go_marshal_indent_layout() {
        let m = Metadata {
            version: "1.0".into(),
            hash: key().as_str().into(),
            binary_file: layout::bin_name(&key()),
            file_size: 3,
            rr_version: "v2025.1.2".into(),
            platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
            },
            plugins: vec![Plugin {
                module_name: "github.com/roadrunner-server/http/v5".into(),
                tag: "v5.2.7".into(),
            }],
            created_at: 10,
            last_accessed: 11,
            access_count: 2,
            build_duration_ms: 1500,
            sha256: None,
            extra: Default::default(),
        };
        let k = key();
        let expected = format!(
            "{{\n  \"version\": \"1.0\",\n  \"hash\": \"{k}\",\n  \"binary_file\": \"{k}.bin\",\n  \"file_size\": 3,\n  \"rr_version\": \"v2025.1.2\",\n  \"platform\": {{\n    \"os\": \"linux\",\n    \"arch\": \"amd64\"\n  }},\n  \"plugins\": [\n    {{\n      \"module_name\": \"github.com/roadrunner-server/http/v5\",\n      \"tag\": \"v5.2.7\"\n    }}\n  ],\n  \"created_at\": 10,\n  \"last_accessed\": 11,\n  \"access_count\": 2,\n  \"build_duration_ms\": 1500\n}}"
        );
        assert_eq!(String::from_utf8(m.to_json()).unwrap(), expected);
        assert_eq!(Metadata::parse(expected.as_bytes(), &k).unwrap(), m);
    }

    #[test]
    fn refuses_a_binary_file_outside_the_entry() {
        let k = key();
        let json = format!(
            r#"{{"version":"1.0","hash":"{k}","binary_file":"../etc/passwd","file_size":1,"rr_version":"v1","platform":{{"os":"linux","arch":"amd64"}},"plugins":null,"created_at":1,"last_accessed":1,"access_count":1,"build_duration_ms":1}}"#
        );
        assert!(matches!(
            Metadata::parse(json.as_bytes(), &k),
            Err(MetaError::BinaryFileMismatch { .. })
        ));
    }

    #[test]
    fn keeps_fields_it_does_not_know() {
        let k = key();
        let json = format!(
            r#"{{"version":"1.0","hash":"{k}","binary_file":"{k}.bin","file_size":1,"rr_version":"v1","platform":{{"os":"linux","arch":"amd64"}},"plugins":null,"created_at":1,"last_accessed":1,"access_count":1,"build_duration_ms":1,"future":{{"x":1}}}}"#
        );
        let m = Metadata::parse(json.as_bytes(), &k).unwrap();
        assert!(m.plugins.is_empty());
        let again: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        assert_eq!(again["future"]["x"], 1);
    }
}
