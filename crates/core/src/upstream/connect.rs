//! One call of Velox's `BuildService/Build` over Connect's unary JSON protocol, and
//! nothing more: no retries here (see `retry.rs`), just an honest account of what
//! happened on the wire.

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde::Deserialize;

use super::codes::Code;
use crate::error::{Error, Result};

/// The RPC path; Velox mounts `api.service.v1.BuildService` at the server's root.
pub const BUILD_PATH: &str = "/api.service.v1.BuildService/Build";

/// Bodies larger than this are not read to the end: a successful answer is a path plus
/// build logs (kilobytes), an error is a message.
const MAX_BODY: usize = 16 << 20;

/// What a successful build answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutput {
    /// The binary, on the build server's filesystem.
    pub path: String,
    pub logs: String,
}

/// Why one call did not produce a [`BuildOutput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No complete HTTP answer: refused, reset, truncated body.
    Transport(String),
    /// The attempt's time ran out before the answer was complete.
    AttemptTimedOut(Duration),
    /// A non-200 answer. `from_body` tells whether `code` came from a Connect error body
    /// (the server itself spoke) or was inferred from a bare HTTP status (a proxy, a
    /// load balancer, something that is not Velox).
    Status {
        http: u16,
        code: Code,
        message: String,
        from_body: bool,
        /// Build logs, when the error body carries them (Velox's does not today).
        logs: String,
    },
    /// A 200 whose body is not a `BuildResponse`.
    Malformed(String),
    /// A redirect to another origin (or one too many), not followed: the POST body would
    /// go to, and the answer come from, a server that is not `server_url`.
    Redirect { http: u16, location: String },
}

impl Failure {
    /// The Connect code this failure amounts to, for logs and error texts.
    pub fn code(&self) -> Code {
        match self {
            Failure::Transport(_) => Code::Unavailable,
            Failure::AttemptTimedOut(_) => Code::DeadlineExceeded,
            Failure::Status { code, .. } => *code,
            Failure::Malformed(_) => Code::Internal,
            Failure::Redirect { .. } => Code::FailedPrecondition,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(msg) => write!(f, "transport error: {msg}"),
            Failure::AttemptTimedOut(d) => {
                write!(f, "no answer within {} ms", d.as_millis())
            }
            Failure::Status {
                http,
                code,
                message,
                from_body: true,
                ..
            } => write!(f, "{code} (HTTP {http}): {message}"),
            Failure::Status { http, message, .. } if message.is_empty() => {
                write!(f, "bare HTTP {http}")
            }
            Failure::Status { http, message, .. } => write!(f, "bare HTTP {http}: {message}"),
            Failure::Malformed(msg) => write!(f, "malformed response: {msg}"),
            Failure::Redirect { http, location } => write!(
                f,
                "HTTP {http} redirect to {location:?} not followed (only redirects within server_url's origin are)"
            ),
        }
    }
}

#[derive(Deserialize)]
struct BuildResponse {
    // protojson leaves out empty fields, so both may be missing.
    #[serde(default)]
    path: String,
    #[serde(default)]
    logs: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    logs: Option<String>,
}

/// A Connect client for one Velox server. Cheap to share: reqwest pools connections.
#[derive(Debug, Clone)]
pub struct VeloxClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
}

impl VeloxClient {
    /// `server_url` is the seed's `server_url` key: scheme, host, port and an optional
    /// path prefix; the RPC path is appended.
    pub fn new(server_url: &str) -> Result<VeloxClient> {
        let base = server_url.trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}{BUILD_PATH}"))
            .map_err(|e| Error::config("server_url", format!("not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(Error::config("server_url", "scheme must be http or https"));
        }
        let http = reqwest::Client::builder()
            // A build answer is one small JSON document; compression buys nothing.
            .no_gzip()
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| Error::config("server_url", format!("HTTP client: {e}")))?;
        Ok(VeloxClient { http, endpoint })
    }

    pub fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    /// One attempt, bounded by `timeout`, which is also sent as `Connect-Timeout-Ms` so
    /// the server knows when we stop listening. Dropping the returned future closes the
    /// connection, which is how an abandoned build is cancelled upstream.
    pub async fn build_once(
        &self,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> std::result::Result<BuildOutput, Failure> {
        match tokio::time::timeout(timeout, self.exchange(body, timeout)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::AttemptTimedOut(timeout)),
        }
    }

    async fn exchange(
        &self,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> std::result::Result<BuildOutput, Failure> {
        // Connect allows at most 10 digits; a zero would mean "already expired".
        let timeout_ms = timeout.as_millis().clamp(1, 9_999_999_999) as u64;
        let payload =
            serde_json::to_vec(body).map_err(|e| Failure::Malformed(format!("request: {e}")))?;
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("Connect-Protocol-Version", "1")
            .header("Connect-Timeout-Ms", timeout_ms.to_string())
            .body(payload)
            .send()
            .await
            .map_err(|e| Failure::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(Failure::Redirect {
                http: status,
                location,
            });
        }
        let bytes = read_capped(response).await?;
        if status == 200 {
            parse_success(&bytes)
        } else {
            Err(parse_error(status, &bytes))
        }
    }
}

/// Follows a redirect only within the origin (scheme, host, port) of the first request,
/// at most 5 times; anything else stops and is returned as the 3xx it is.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

async fn read_capped(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Transport(describe(&e)))?
    {
        if out.len() + chunk.len() > MAX_BODY {
            return Err(Failure::Malformed(format!(
                "body larger than {MAX_BODY} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn parse_success(bytes: &[u8]) -> std::result::Result<BuildOutput, Failure> {
    let parsed: BuildResponse =
        serde_json::from_slice(bytes).map_err(|e| Failure::Malformed(e.to_string()))?;
    if parsed.path.is_empty() {
        return Err(Failure::Malformed("no `path` in the answer".into()));
    }
    Ok(BuildOutput {
        path: parsed.path,
        logs: parsed.logs,
    })
}

/// A Connect error body is authoritative when it names a known code; otherwise the
/// code is inferred from the status and whatever text came back is kept as the message.
fn parse_error(status: u16, bytes: &[u8]) -> Failure {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        if let Some(code) = body.code.as_deref().and_then(Code::parse) {
            return Failure::Status {
                http: status,
                code,
                message: body.message.unwrap_or_default(),
                from_body: true,
                logs: body.logs.unwrap_or_default(),
            };
        }
    }
    let text = String::from_utf8_lossy(bytes);
    Failure::Status {
        http: status,
        code: Code::from_http_status(status),
        message: super::tail(text.trim(), 1024),
        from_body: false,
        logs: String::new(),
    }
}

/// reqwest's top-level message ("error sending request") hides the cause; walk the chain.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_code_wins_over_the_status() {
        let f = parse_error(
            409,
            br#"{"code":"already_exists","message":"build is already in progress"}"#,
        );
        assert_eq!(
            f,
            Failure::Status {
                http: 409,
                code: Code::AlreadyExists,
                message: "build is already in progress".into(),
                from_body: true,
                logs: String::new(),
            }
        );
    }

    #[test]
    fn bare_status_infers_the_code() {
        let f = parse_error(502, b"<html>Bad Gateway</html>");
        assert!(matches!(
            f,
            Failure::Status {
                http: 502,
                code: Code::Unavailable,
                from_body: false,
                ..
            }
        ));
        let f = parse_error(500, br#"{"code":"no_such_code"}"#);
        assert_eq!(f.code(), Code::Unknown);
    }

    #[test]
    fn success_without_path_is_malformed() {
        assert!(matches!(parse_success(b"{}"), Err(Failure::Malformed(_))));
        assert!(matches!(
            parse_success(b"not json"),
            Err(Failure::Malformed(_))
        ));
        let ok = parse_success(br#"{"path":"/tmp/x/rr","extra":1}"#).unwrap();
        assert_eq!(ok.path, "/tmp/x/rr");
        assert_eq!(ok.logs, "");
    }

    #[test]
    fn server_url_must_be_http() {
        assert!(VeloxClient::new("ftp://example.org").is_err());
        assert!(VeloxClient::new("not a url").is_err());
        let c = VeloxClient::new("http://127.0.0.1:9000/prefix/").unwrap();
        assert_eq!(
            c.endpoint().as_str(),
            "http://127.0.0.1:9000/prefix/api.service.v1.BuildService/Build"
        );
    }
}
