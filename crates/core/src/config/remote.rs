//! `cache.remote.*`: where the shared object-storage tier lives and how to sign for it.

use std::fmt;

use serde_json::{Map, Value};

use crate::config::keys;
use crate::error::{Error, Result};

/// The remote tier's settings. Absent (`None` in [`crate::Config::remote`]) unless
/// `cache.remote.url` is set: without it nothing changes.
#[derive(Clone, PartialEq)]
pub struct RemoteConfig {
    pub bucket: String,
    /// Object names start with `{prefix}/`; empty = the bucket's root.
    pub prefix: String,
    /// `http(s)://host:port` of an S3-compatible store; `None` = AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub allow_http: bool,
    /// Both or neither; neither = `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN` from the environment.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// Secrets never reach a log line.
impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field(
                "access_key_id",
                &self.access_key_id.as_ref().map(|_| "<set>"),
            )
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl RemoteConfig {
    /// Parses the `cache.remote` mapping (`None` or `null` = absent). An empty `url`
    /// switches the tier off, as an unset `${ENV}` expansion gives it.
    pub fn parse(value: Option<&Value>) -> Result<Option<RemoteConfig>> {
        let map = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Error::config("cache.remote", "must be a mapping of keys")),
        };
        let known = keys::children("cache.remote");
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(err(k, "unknown key"));
        }
        let url = match string(map, "url")? {
            None => return Ok(None),
            Some(u) if u.trim().is_empty() => return Ok(None),
            Some(u) => u.trim(),
        };
        let (bucket, prefix) = parse_url(url).map_err(|r| err("url", r))?;
        let endpoint = match string(map, "endpoint")? {
            None => None,
            Some(e) if e.trim().is_empty() => None,
            Some(e) => Some(parse_endpoint(e.trim()).map_err(|r| err("endpoint", r))?),
        };
        let allow_http = boolean(map, "allow_http")?.unwrap_or(false);
        if let Some(e) = &endpoint {
            if e.starts_with("http://") && !allow_http {
                return Err(err(
                    "endpoint",
                    format!("{e:?} is plain http; set cache.remote.allow_http: true to allow it"),
                ));
            }
        }
        let region = match string(map, "region")? {
            Some(r) if !r.trim().is_empty() => r.trim(),
            _ => keys::CACHE_REMOTE_REGION
                .default_literal()
                .unwrap_or_default(),
        };
        let nonempty = |k: &str| -> Result<Option<String>> {
            Ok(string(map, k)?.filter(|s| !s.is_empty()).map(str::to_owned))
        };
        let access_key_id = nonempty("access_key_id")?;
        let secret_access_key = nonempty("secret_access_key")?;
        match (&access_key_id, &secret_access_key) {
            (Some(_), None) => {
                return Err(err(
                    "secret_access_key",
                    "is missing while access_key_id is set",
                ))
            }
            (None, Some(_)) => {
                return Err(err(
                    "access_key_id",
                    "is missing while secret_access_key is set",
                ))
            }
            _ => {}
        }
        Ok(Some(RemoteConfig {
            bucket,
            prefix,
            endpoint,
            region: region.to_owned(),
            allow_http,
            access_key_id,
            secret_access_key,
        }))
    }
}

fn err(key: &str, reason: impl Into<String>) -> Error {
    Error::config(format!("cache.remote.{key}"), reason)
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(key, "must be a string")),
    }
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Environment overrides arrive as strings.
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" | "" => Ok(Some(false)),
            _ => Err(err(key, format!("{s:?} is not a boolean"))),
        },
        Some(_) => Err(err(key, "must be a boolean")),
    }
}

/// `s3://bucket[/prefix...]` -> (bucket, prefix without slashes at either end).
fn parse_url(url: &str) -> std::result::Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url:?} is not an s3://bucket[/prefix] URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric();
    if !bucket_ok {
        return Err(format!(
            "bucket {bucket:?} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)"
        ));
    }
    let prefix = prefix.trim_matches('/');
    let bad_segment = prefix
        .split('/')
        .find(|s| !prefix.is_empty() && (s.is_empty() || *s == "." || *s == ".."));
    if let Some(s) = bad_segment {
        return Err(format!("prefix {prefix:?} has an invalid segment {s:?}"));
    }
    if prefix.chars().any(|c| c.is_control()) {
        return Err(format!("prefix {prefix:?} has control characters"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

fn parse_endpoint(s: &str) -> std::result::Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{s:?} is not an http(s)://host[:port] URL"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Option<RemoteConfig>> {
        RemoteConfig::parse(Some(&v))
    }

    #[test]
    fn absent_or_empty_url_means_no_remote_tier() {
        assert_eq!(RemoteConfig::parse(None).unwrap(), None);
        assert_eq!(parse(json!({"url": ""})).unwrap(), None);
        assert_eq!(parse(json!({})).unwrap(), None);
    }

    #[test]
    fn url_gives_bucket_and_prefix_and_defaults() {
        let c = parse(json!({"url": "s3://velox/team/a/"}))
            .unwrap()
            .unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("velox", "team/a"));
        assert_eq!(c.region, "us-east-1");
        assert!(!c.allow_http);
        assert_eq!(c.endpoint, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (json!({"url": "http://x/y"}), "cache.remote.url"),
            (json!({"url": "s3://A_B"}), "cache.remote.url"),
            (json!({"url": "s3://velox/a//b"}), "cache.remote.url"),
            (
                json!({"url": "s3://velox", "endpoint": "ftp://h"}),
                "cache.remote.endpoint",
            ),
            (
                json!({"url": "s3://velox", "endpoint": "http://127.0.0.1:1"}),
                "cache.remote.endpoint",
            ),
            (
                json!({"url": "s3://velox", "access_key_id": "k"}),
                "cache.remote.secret_access_key",
            ),
            (
                json!({"url": "s3://velox", "regoin": "x"}),
                "cache.remote.regoin",
            ),
            (
                json!({"url": "s3://velox", "allow_http": "maybe"}),
                "cache.remote.allow_http",
            ),
        ];
        for (v, key) in cases {
            let e = parse(v.clone()).unwrap_err().to_string();
            assert!(e.contains(key), "{v}: {e}");
        }
    }

    #[test]
    fn the_velox_section_carries_it_under_cache_remote() {
        let c =
            crate::Config::from_json(br#"{"cache": {"remote": {"url": "s3://velox/p"}}}"#).unwrap();
        assert_eq!(c.remote.unwrap().prefix, "p");
        let none = crate::Config::from_json(br#"{"cache": {"enabled": true}}"#).unwrap();
        assert_eq!(none.remote, None);
        let e = crate::Config::from_json(
            br#"{"cache": {"remote": {"url": "s3://velox", "endpoint": 3}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cache.remote.endpoint"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = parse(
            json!({"url": "s3://velox", "access_key_id": "AKIA", "secret_access_key": "s3cr3t"}),
        )
        .unwrap()
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("AKIA"),
            "{shown}"
        );
    }
}
