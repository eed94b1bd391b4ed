//! The `velox:` section as JSON (what the Go shim hands over): parsing never panics and
//! is deterministic; Go durations never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    velox_middleware_fuzz::checks::config(data);
});
