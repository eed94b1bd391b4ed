//! Build requests made as values (not parsed): the local builder's tests need requests
//! that validation would refuse, too.

use velox_core::BuildRequest;

/// A `v2025.1.15` request for `linux/<arch>` with these `(module, tag)` plugins and none
/// of the optional fields.
pub fn linux_request(arch: &str, plugins: &[(&str, &str)]) -> BuildRequest {
    BuildRequest::with_plugins("v2025.1.15", "linux", arch, plugins)
}
