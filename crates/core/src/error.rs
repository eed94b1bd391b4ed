//! The one error type that crosses module boundaries. Each variant maps to exactly one
//! C status (see `ffi::status`) and one HTTP status (see [`Error::http_status`]).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key is wrong; `key` is the dotted path (`retry.max_attempts`).
    #[error("invalid configuration: {key}: {reason}")]
    InvalidConfig { key: String, reason: String },

    /// The build request is wrong; `field` is the JSON path (`plugins[2].tag`).
    #[error("invalid build request: {field}: {reason}")]
    InvalidRequest { field: String, reason: String },

    /// The Velox server refused the request (a Connect client error such as
    /// `invalid_argument`).
    #[error("velox rejected the request ({code}): {message}")]
    UpstreamRejected { code: String, message: String },

    /// The Velox server tried and failed; `logs` is a bounded tail of its build logs.
    #[error("velox build failed ({code}): {message}")]
    BuildFailed {
        code: String,
        message: String,
        logs: String,
    },

    /// The Velox server could not be reached or kept failing after the retries.
    #[error("velox server unavailable after {attempts} attempt(s): {message}")]
    UpstreamUnavailable { attempts: u32, message: String },

    #[error("build_timeout of {seconds}s exceeded")]
    Timeout { seconds: u64 },

    #[error("cancelled by the caller")]
    Cancelled,

    /// The path returned by the Velox server was refused.
    #[error("unsafe build path {path:?}: {reason}")]
    UnsafePath { path: PathBuf, reason: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the engine is shutting down")]
    ShuttingDown,

    /// Not an error for lookups; kept here so every call has one result type.
    #[error("not found")]
    NotFound,

    #[error("internal error: {0}")]
    Panic(String),

    #[error("required argument `{0}` is NULL")]
    NullArgument(&'static str),
}

impl Error {
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub fn request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// What an HTTP host should answer for this error (docs/ABI.md, "Status codes").
    /// Decided here, once, so every host answers the same.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidRequest { .. } => 400,
            Error::UpstreamRejected { .. } => 422,
            Error::BuildFailed { .. } => 502,
            Error::UpstreamUnavailable { .. } => 502,
            Error::UnsafePath { .. } => 502,
            Error::Timeout { .. } => 504,
            Error::ShuttingDown => 503,
            // Nginx's "client closed request": nothing is written, but logs stay readable.
            Error::Cancelled => 499,
            Error::NotFound => 404,
            Error::InvalidConfig { .. }
            | Error::Io { .. }
            | Error::Panic(_)
            | Error::NullArgument(_) => 500,
        }
    }

    /// A short, stable, machine-readable name (used in JSON error bodies and metrics).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidConfig { .. } => "invalid_config",
            Error::InvalidRequest { .. } => "invalid_request",
            Error::UpstreamRejected { .. } => "upstream_rejected",
            Error::BuildFailed { .. } => "build_failed",
            Error::UpstreamUnavailable { .. } => "upstream_unavailable",
            Error::Timeout { .. } => "timeout",
            Error::Cancelled => "cancelled",
            Error::UnsafePath { .. } => "unsafe_path",
            Error::Io { .. } => "io",
            Error::ShuttingDown => "shutting_down",
            Error::NotFound => "not_found",
            Error::Panic(_) => "panic",
            Error::NullArgument(_) => "null_argument",
        }
    }
}
