//! What a host answers for a bare status (`vxm_status_http`, `vxm_status_code`) is what
//! an error object with that status says, and the request limit a host applies
//! (`vxm_request_max_bytes`) is the one the library enforces.

use std::ffi::CStr;
use std::ptr;

use velox_middleware::cache::vxm_request_key;
use velox_middleware::error::*;
use velox_middleware::limits::{vxm_request_max_bytes, VXM_REQUEST_MAX_BYTES};
use velox_middleware::status::*;
use velox_middleware::strings::vxm_string_free;

const REQUEST: &str = r#"{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"},"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.0"}]}"#;

fn code(status: vxm_status) -> String {
    let c = vxm_status_code(status as u32);
    assert!(!c.is_null());
    unsafe { CStr::from_ptr(c) }.to_str().unwrap().to_owned()
}

/// Calls `vxm_request_key`; returns the status and the error object, if any.
fn request_key(json: &[u8]) -> (vxm_status, *mut vxm_error) {
    let mut key = ptr::null_mut();
    let mut err = ptr::null_mut();
    let status = unsafe { vxm_request_key(json.as_ptr(), json.len(), &mut key, &mut err) };
    unsafe { vxm_string_free(key) };
    (status, err)
}

#[test]
fn each_status_has_the_http_status_and_code_hosts_answer() {
    let table = [
        (vxm_status::Ok, 200, "ok"),
        (vxm_status::NullArgument, 500, "null_argument"),
        (vxm_status::InvalidConfig, 500, "invalid_config"),
        (vxm_status::InvalidRequest, 400, "invalid_request"),
        (vxm_status::NotFound, 404, "not_found"),
        (vxm_status::UpstreamRejected, 422, "upstream_rejected"),
        (vxm_status::BuildFailed, 502, "build_failed"),
        (vxm_status::UpstreamUnavailable, 502, "upstream_unavailable"),
        (vxm_status::Timeout, 504, "timeout"),
        (vxm_status::Cancelled, 499, "cancelled"),
        (vxm_status::UnsafePath, 502, "unsafe_path"),
        (vxm_status::Io, 500, "io"),
        (vxm_status::ShuttingDown, 503, "shutting_down"),
        (vxm_status::Panic, 500, "panic"),
    ];
    for (status, http, want) in table {
        assert_eq!(vxm_status_http(status as u32), http, "{status:?}");
        assert_eq!(code(status), want, "{status:?}");
    }
}

/// C passes any integer where the header says `vxm_status`; one the library does not know
/// gets a defined answer, not undefined behaviour.
#[test]
fn an_unknown_status_answers_500_and_unknown() {
    for raw in [vxm_status::BuildMismatch as u32 + 1, 1000, u32::MAX] {
        assert_eq!(vxm_status_http(raw), 500, "{raw}");
        let c = vxm_status_code(raw);
        assert_eq!(unsafe { CStr::from_ptr(c) }, c"unknown", "{raw}");
    }
}

#[test]
fn a_status_code_is_static_and_the_same_pointer_every_time() {
    let first = vxm_status_code(vxm_status::Timeout as u32);
    let again = vxm_status_code(vxm_status::Timeout as u32);
    assert_eq!(first, again);
}

#[test]
fn an_error_object_answers_what_its_status_answers() {
    let (status, err) = request_key(b"{not json");
    assert_eq!(status, vxm_status::InvalidRequest);
    assert!(!err.is_null());
    unsafe {
        assert_eq!(vxm_error_status(err), status);
        assert_eq!(vxm_error_http_status(err), vxm_status_http(status as u32));
        assert_eq!(
            CStr::from_ptr(vxm_error_code(err)),
            CStr::from_ptr(vxm_status_code(status as u32))
        );
        vxm_error_free(err);
    }

    let mut key = ptr::null_mut();
    let mut err = ptr::null_mut();
    let status = unsafe { vxm_request_key(ptr::null(), 0, &mut key, &mut err) };
    assert_eq!(status, vxm_status::NullArgument);
    unsafe {
        assert_eq!(vxm_error_http_status(err), vxm_status_http(status as u32));
        assert_eq!(
            CStr::from_ptr(vxm_error_code(err)),
            CStr::from_ptr(vxm_status_code(status as u32))
        );
        vxm_error_free(err);
    }
}

#[test]
fn the_request_limit_is_the_one_the_parser_enforces() {
    let max = vxm_request_max_bytes();
    assert_eq!(max, VXM_REQUEST_MAX_BYTES);
    assert_eq!(max, 1 << 20);

    // Padded with whitespace (valid JSON) to exactly the limit: accepted.
    let mut at_limit = REQUEST.as_bytes().to_vec();
    at_limit.resize(max, b' ');
    let (status, err) = request_key(&at_limit);
    assert_eq!(status, vxm_status::Ok, "{err:?}");

    at_limit.push(b' ');
    let (status, err) = request_key(&at_limit);
    assert_eq!(status, vxm_status::InvalidRequest);
    let message = unsafe { CStr::from_ptr(vxm_error_message(err)) }.to_string_lossy();
    assert!(message.contains(&max.to_string()), "{message}");
    unsafe { vxm_error_free(err) };
}

/// The repository's root: this package's directory.
fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (status, code, HTTP) of every row of the guide's status table.
fn guide_rows() -> Vec<(String, String, String)> {
    let guide = std::fs::read_to_string(root().join("docs/ABI.md")).expect("docs/ABI.md");
    let strip = |cell: &str| cell.trim().trim_matches('`').to_owned();
    guide
        .lines()
        .skip_while(|l| !l.starts_with("| status | code | HTTP |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            (strip(cells[1]), strip(cells[2]), strip(cells[3]))
        })
        .collect()
}

/// The status names in the header's enum, in order.
fn header_statuses() -> Vec<String> {
    let header = std::fs::read_to_string(root().join("include/velox_middleware.h"))
        .expect("include/velox_middleware.h");
    header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("VXM_STATUS_"))
        .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.to_owned()))
        .collect()
}

/// docs/ABI.md's status table names the header's statuses in order, each
/// with the code and HTTP status the library answers for it.
#[test]
fn the_guide_status_table_is_what_the_library_answers() {
    let rows = guide_rows();
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let statuses = header_statuses();
    assert_eq!(names, statuses, "docs/ABI.md's statuses, in order");
    for (raw, (name, row_code, row_http)) in (0u32..).zip(&rows) {
        let c = unsafe { CStr::from_ptr(vxm_status_code(raw)) }
            .to_str()
            .unwrap();
        assert_eq!(row_code, c, "{name}'s code");
        assert_eq!(
            row_http,
            &vxm_status_http(raw).to_string(),
            "{name}'s HTTP status"
        );
        assert_eq!(
            name,
            &c.to_ascii_uppercase(),
            "{name} is its code in capitals"
        );
    }
}
