//! Executables from a build server or a bucket: the Go build-information reader (ELF,
//! PE, Mach-O headers, the build-info blob, the module list) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    velox_middleware_fuzz::checks::buildinfo(data);
});
