//! The asynchronous answer: `202 Accepted` for a build that is still running.
//!
//! A client asks for it with `Prefer: respond-async` (RFC 7240; `wait=N` sets how long
//! it is willing to wait first), or the operator sets `respond_after` for everyone. When
//! that time passes and the build is still running, the request is answered with a
//! [`Pending`] and the build goes on; the same request later gets the binary, another
//! `Pending` or the build's error (`failures.rs`).

use std::time::Duration;

use crate::request::CacheKey;

/// The HTTP status of a [`Pending`] answer.
pub const ACCEPTED: u16 = 202;

/// What a client said in its `Prefer` header(s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    pub respond_async: bool,
    /// `wait=N`: how long the client is willing to wait for the final answer.
    pub wait: Option<Duration>,
}

impl Prefer {
    /// Parses the `Prefer` header values, joined with commas. Preferences are
    /// case-insensitive tokens; unknown ones and their parameters are ignored, as RFC
    /// 7240 asks, so a header this code does not understand changes nothing.
    pub fn parse(header: &str) -> Prefer {
        let mut prefer = Prefer::default();
        for item in header.split(',') {
            // `token [= value] *( ";" parameter )`: parameters do not matter here.
            let pref = item.split(';').next().unwrap_or("").trim();
            let (name, value) = match pref.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (pref, None),
            };
            if name.eq_ignore_ascii_case("respond-async") {
                prefer.respond_async = true;
            } else if name.eq_ignore_ascii_case("wait") {
                if let Some(secs) = value.and_then(|v| v.parse::<u64>().ok()) {
                    prefer.wait = Some(Duration::from_secs(secs));
                }
            }
        }
        prefer
    }
}

/// How long a request waits for its build before it is answered `202`, or `None` to
/// wait for the end. A client asking `respond-async` gets its own `wait`, else the
/// configured `respond_after`, else an answer as soon as a build is needed.
pub fn answer_after(respond_after: Option<Duration>, prefer: Prefer) -> Option<Duration> {
    if prefer.respond_async {
        Some(prefer.wait.or(respond_after).unwrap_or(Duration::ZERO))
    } else {
        respond_after
    }
}

/// A build still running when its request had to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub key: CacheKey,
    /// Since the build started (not since this request came).
    pub elapsed_ms: u64,
    /// Builds ahead of this one in the local builder's queue; `None` when it is not
    /// queued (running, or built by a Velox server).
    pub position: Option<u64>,
    /// When to ask again (the `Retry-After` header).
    pub retry_after_secs: u32,
    /// The client asked `respond-async` (answer `Preference-Applied: respond-async`).
    pub preference_applied: bool,
}

impl Pending {
    /// The response body: `{"status":"building","key":...,"elapsed_ms":...,"position":...}`.
    pub fn json(&self) -> String {
        // A struct, not `json!`, so the fields keep this order on the wire.
        #[derive(serde::Serialize)]
        struct Body<'a> {
            status: &'static str,
            key: &'a str,
            elapsed_ms: u64,
            position: Option<u64>,
        }
        serde_json::to_string(&Body {
            status: "building",
            key: self.key.as_str(),
            elapsed_ms: self.elapsed_ms,
            position: self.position,
        })
        .expect("a plain struct serializes")
    }
}

/// A resolve's answer: the binary, or "still building, come back later".
#[derive(Debug)]
pub enum Resolved {
    Ready(crate::artifact::Artifact),
    Pending(Pending),
}

impl Resolved {
    /// The binary of a resolve that was not allowed to answer [`Resolved::Pending`].
    pub fn ready(self) -> crate::error::Result<crate::artifact::Artifact> {
        match self {
            Resolved::Ready(artifact) => Ok(artifact),
            Resolved::Pending(_) => Err(crate::error::Error::Panic(
                "a synchronous resolve was answered 202".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_reads_respond_async_and_wait_case_insensitively() {
        let p = Prefer::parse("return=minimal, Respond-Async; foo=bar , WAIT=\"12\"");
        assert!(p.respond_async);
        assert_eq!(p.wait, Some(Duration::from_secs(12)));
        assert_eq!(Prefer::parse(""), Prefer::default());
        assert_eq!(
            Prefer::parse("respond-asynchronously, wait=x"),
            Prefer::default()
        );
    }

    #[test]
    fn answer_after_prefers_the_clients_wait_then_the_config_then_now() {
        let s = Duration::from_secs;
        let async_ = |wait| Prefer {
            respond_async: true,
            wait,
        };
        assert_eq!(answer_after(None, Prefer::default()), None);
        assert_eq!(answer_after(Some(s(25)), Prefer::default()), Some(s(25)));
        assert_eq!(answer_after(Some(s(25)), async_(Some(s(3)))), Some(s(3)));
        assert_eq!(answer_after(Some(s(25)), async_(None)), Some(s(25)));
        assert_eq!(answer_after(None, async_(None)), Some(Duration::ZERO));
    }
}
