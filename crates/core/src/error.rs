//! The one error type that crosses module boundaries. Each variant maps to exactly one
//! C status and one HTTP status, through its [`ErrorKind`].

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

    /// The binary is not the build the request asked for (its Go build information
    /// differs, or it has none): never cached, never served. `message` names the first
    /// difference.
    #[error("build mismatch: {message}")]
    BuildMismatch { message: String },

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
        self.kind().http_status()
    }

    /// A short, stable, machine-readable name (see [`ErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// The error's kind: what decides its C status, HTTP status and code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            Error::UpstreamRejected { .. } => ErrorKind::UpstreamRejected,
            Error::BuildFailed { .. } => ErrorKind::BuildFailed,
            Error::UpstreamUnavailable { .. } => ErrorKind::UpstreamUnavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::UnsafePath { .. } => ErrorKind::UnsafePath,
            Error::BuildMismatch { .. } => ErrorKind::BuildMismatch,
            Error::Io { .. } => ErrorKind::Io,
            Error::ShuttingDown => ErrorKind::ShuttingDown,
            Error::NotFound => ErrorKind::NotFound,
            Error::Panic(_) => ErrorKind::Panic,
        }
    }
}

/// The kinds of [`Error`], without their details: the C ABI's statuses and the
/// answers hosts give are decided per kind, here, so that an error object and a host
/// asking about a bare status get the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidConfig,
    InvalidRequest,
    UpstreamRejected,
    BuildFailed,
    UpstreamUnavailable,
    Timeout,
    Cancelled,
    UnsafePath,
    Io,
    ShuttingDown,
    NotFound,
    Panic,
    BuildMismatch,
}

impl ErrorKind {
    /// What an HTTP host should answer: [`Error::http_status`].
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::UpstreamRejected => 422,
            ErrorKind::BuildFailed => 502,
            ErrorKind::UpstreamUnavailable => 502,
            ErrorKind::UnsafePath => 502,
            ErrorKind::BuildMismatch => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::ShuttingDown => 503,
            // Nginx's "client closed request": nothing is written, but logs stay readable.
            ErrorKind::Cancelled => 499,
            ErrorKind::NotFound => 404,
            ErrorKind::InvalidConfig | ErrorKind::Io | ErrorKind::Panic => 500,
        }
    }

    /// A short, stable, machine-readable name (used in JSON error bodies and metrics).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::UpstreamRejected => "upstream_rejected",
            ErrorKind::BuildFailed => "build_failed",
            ErrorKind::UpstreamUnavailable => "upstream_unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::UnsafePath => "unsafe_path",
            ErrorKind::Io => "io",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Panic => "panic",
            ErrorKind::BuildMismatch => "build_mismatch",
        }
    }
}
