//! Limits a host applies before it calls the library, so that it refuses what the
//! library would refuse without reading more of it.

use velox_core::request::MAX_BODY_BYTES;

/// The largest build request (`request_json`, after any content decoding) the library
/// accepts, in bytes; a larger one is `INVALID_REQUEST`. Hosts bound what they read from
/// a worker with it. The same value as `vxm_request_max_bytes()`.
// Spelled out because the header needs a literal (cbindgen does not read velox-core);
// the assertion below keeps it equal to the value the request parser enforces.
pub const VXM_REQUEST_MAX_BYTES: usize = 1024 * 1024;

/// `VXM_REQUEST_MAX_BYTES`, for hosts that bind functions rather than read the header.
/// Thread-safe; never blocks.
#[no_mangle]
pub extern "C" fn vxm_request_max_bytes() -> usize {
    const { assert!(VXM_REQUEST_MAX_BYTES == MAX_BODY_BYTES) };
    VXM_REQUEST_MAX_BYTES
}
