//! Worker bodies: parse + validation + key + the Velox body never panic; an accepted
//! request keeps its key whatever the plugin order and survives serialise -> parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    velox_middleware_fuzz::checks::request(data);
});
