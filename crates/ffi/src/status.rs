//! `vxm_status`: the result of every fallible call. Names and order are fixed by docs/ABI.md.

use velox_core::error::Error;

/// The result of a fallible call. Its values never change meaning between versions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum vxm_status {
    /// Success.
    Ok = 0,
    /// A required pointer was NULL.
    NullArgument = 1,
    /// The engine configuration is not valid (the message names the key).
    InvalidConfig = 2,
    /// The build request is not valid (the message names the field).
    InvalidRequest = 3,
    /// A cache lookup found nothing (not an error for lookups).
    NotFound = 4,
    /// The Velox server refused the request (invalid_argument and other client errors).
    UpstreamRejected = 5,
    /// The Velox server tried and failed to build (the message carries its text).
    BuildFailed = 6,
    /// The Velox server could not be reached or kept failing after retries.
    UpstreamUnavailable = 7,
    /// build_timeout was exceeded.
    Timeout = 8,
    /// The caller cancelled the call.
    Cancelled = 9,
    /// The server returned a path outside `allowed_build_dirs`, a link, or not a regular file.
    UnsafePath = 10,
    /// A filesystem error that could not be degraded around.
    Io = 11,
    /// The engine is being freed.
    ShuttingDown = 12,
    /// A bug inside the library was caught at the boundary.
    Panic = 13,
}

impl vxm_status {
    /// The one place where errors become C statuses.
    pub(crate) fn from_error(err: &Error) -> vxm_status {
        match err {
            Error::InvalidConfig { .. } => vxm_status::InvalidConfig,
            Error::InvalidRequest { .. } => vxm_status::InvalidRequest,
            Error::UpstreamRejected { .. } => vxm_status::UpstreamRejected,
            Error::BuildFailed { .. } => vxm_status::BuildFailed,
            Error::UpstreamUnavailable { .. } => vxm_status::UpstreamUnavailable,
            Error::Timeout { .. } => vxm_status::Timeout,
            Error::Cancelled => vxm_status::Cancelled,
            Error::UnsafePath { .. } => vxm_status::UnsafePath,
            Error::Io { .. } => vxm_status::Io,
            Error::ShuttingDown => vxm_status::ShuttingDown,
            Error::NotFound => vxm_status::NotFound,
            Error::Panic(_) => vxm_status::Panic,
            Error::NullArgument(_) => vxm_status::NullArgument,
        }
    }
}
