//! Build requests made as values (not parsed): the local builder's tests need requests
//! that validation would refuse, too.

use velox_core::request::{Platform, Plugin};
use velox_core::BuildRequest;

/// A `v2025.1.15` request for `linux/<arch>` with these `(module, tag)` plugins and none
/// of the optional fields.
pub fn linux_request(arch: &str, plugins: &[(&str, &str)]) -> BuildRequest {
    BuildRequest {
        request_id: None,
        target_platform: Platform {
            os: "linux".into(),
            arch: arch.into(),
        },
        rr_version: "v2025.1.15".into(),
        plugins: plugins
            .iter()
            .map(|(m, t)| Plugin {
                module_name: m.to_string(),
                tag: t.to_string(),
            })
            .collect(),
        force_rebuild: false,
        replaces: vec![],
        excludes: vec![],
        race: false,
        debug: false,
    }
}
