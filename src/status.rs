//! `vxm_status`: the result of every fallible call. Names and order are fixed by docs/ABI.md.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::boundary::guard_or;
use super::failure::Failure;
use velox_core::error::{Error, ErrorKind};

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
    /// The engine is shutting down (`vxm_engine_shutdown` or `vxm_engine_free`).
    ShuttingDown = 12,
    /// A bug inside the library was caught at the boundary.
    Panic = 13,
    /// The binary is not the build that was asked for: its Go build information differs
    /// from the request (the message names the first difference). Never cached.
    BuildMismatch = 14,
}

/// The one correspondence between statuses and the engine's error kinds (every status
/// but OK and NULL_ARGUMENT, which only the C ABI has).
const KINDS: [(vxm_status, ErrorKind); 13] = [
    (vxm_status::InvalidConfig, ErrorKind::InvalidConfig),
    (vxm_status::InvalidRequest, ErrorKind::InvalidRequest),
    (vxm_status::NotFound, ErrorKind::NotFound),
    (vxm_status::UpstreamRejected, ErrorKind::UpstreamRejected),
    (vxm_status::BuildFailed, ErrorKind::BuildFailed),
    (
        vxm_status::UpstreamUnavailable,
        ErrorKind::UpstreamUnavailable,
    ),
    (vxm_status::Timeout, ErrorKind::Timeout),
    (vxm_status::Cancelled, ErrorKind::Cancelled),
    (vxm_status::UnsafePath, ErrorKind::UnsafePath),
    (vxm_status::Io, ErrorKind::Io),
    (vxm_status::ShuttingDown, ErrorKind::ShuttingDown),
    (vxm_status::Panic, ErrorKind::Panic),
    (vxm_status::BuildMismatch, ErrorKind::BuildMismatch),
];

/// What `vxm_status_http` and `vxm_status_code` answer for an integer that is no
/// `vxm_status`: a host that got one has a bug, and 500 is what it should answer.
const UNKNOWN_HTTP: u16 = 500;
const UNKNOWN_CODE: &std::ffi::CStr = c"unknown";

/// NULL_ARGUMENT is the caller's bug, like an unknown status: 500.
const NULL_ARGUMENT_HTTP: u16 = 500;
const NULL_ARGUMENT_CODE: &str = "null_argument";

/// Every status, in order: what [`vxm_status::from_raw`] and the code table go through.
fn all() -> impl Iterator<Item = vxm_status> {
    [vxm_status::Ok, vxm_status::NullArgument]
        .into_iter()
        .chain(KINDS.iter().map(|&(s, _)| s))
}

impl vxm_status {
    /// The status a C caller's integer names; C lets any value through an enum parameter.
    fn from_raw(raw: u32) -> Option<vxm_status> {
        all().find(|&s| s as u32 == raw)
    }

    /// The one place where failures become C statuses.
    pub(crate) fn from_failure(failure: &Failure) -> vxm_status {
        match failure {
            Failure::NullArgument(_) => vxm_status::NullArgument,
            Failure::Engine(err) => vxm_status::from_error(err),
        }
    }

    fn from_error(err: &Error) -> vxm_status {
        let kind = err.kind();
        let status = KINDS.iter().find_map(|&(s, k)| (k == kind).then_some(s));
        status.expect("every error kind has a status")
    }

    fn kind(self) -> Option<ErrorKind> {
        KINDS.iter().find_map(|&(s, k)| (s == self).then_some(k))
    }

    /// What an HTTP host answers: the error kind's status, 200 for OK.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            vxm_status::Ok => 200,
            vxm_status::NullArgument => NULL_ARGUMENT_HTTP,
            _ => self.kind().map_or(UNKNOWN_HTTP, ErrorKind::http_status),
        }
    }

    /// The error kind's code, `"ok"` for OK.
    pub(crate) fn code(self) -> &'static str {
        match self {
            vxm_status::Ok => "ok",
            vxm_status::NullArgument => NULL_ARGUMENT_CODE,
            _ => self.kind().map_or("unknown", ErrorKind::code),
        }
    }

    /// [`vxm_status::code`] as a C string that lives as long as the process.
    fn c_code(self) -> *const c_char {
        static CODES: OnceLock<Vec<(vxm_status, CString)>> = OnceLock::new();
        let codes = CODES.get_or_init(|| {
            all()
                .map(|s| (s, CString::new(s.code()).expect("codes have no NUL")))
                .collect()
        });
        codes
            .iter()
            .find(|(s, _)| *s == self)
            .map_or(c"".as_ptr(), |(_, c)| c.as_ptr())
    }
}

/// The HTTP status an HTTP host should answer for a call that ended with `status`
/// (400, 422, 499, 502, 503, 504, 500, ...; 200 for OK): the same answer
/// `vxm_error_http_status` gives for an error object with this status. For hosts that
/// must answer a status without an error object (their own checks, a call that gave no
/// details). `status` is a `vxm_status` value taken as an integer: any other value
/// answers 500. Thread-safe; never blocks.
#[no_mangle]
pub extern "C" fn vxm_status_http(status: u32) -> u16 {
    guard_or(UNKNOWN_HTTP, || {
        vxm_status::from_raw(status).map_or(UNKNOWN_HTTP, vxm_status::http_status)
    })
}

/// The short stable machine-readable name for `status` (`"invalid_request"`,
/// `"shutting_down"`, ...; `"ok"` for OK): the same `vxm_error_code` gives for an error
/// object with this status. Static: never free it. `status` is a `vxm_status` value
/// taken as an integer: any other value answers `"unknown"`. Thread-safe; never blocks
/// (after the first call, which builds the table).
#[no_mangle]
pub extern "C" fn vxm_status_code(status: u32) -> *const c_char {
    guard_or(c"".as_ptr(), || {
        vxm_status::from_raw(status).map_or(UNKNOWN_CODE.as_ptr(), vxm_status::c_code)
    })
}
