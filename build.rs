//! Generates the C header from this crate (the C ABI only) with cbindgen.
//!
//! The header always goes to `$OUT_DIR/velox_middleware.h`; the test
//! `header::header_is_current` compares it with the checked-in
//! `include/velox_middleware.h` beside this file. `VXM_WRITE_HEADER=1` (what `make header`
//! sets) also writes the checked-in copy.

use std::path::PathBuf;

fn main() {
    // cbindgen reads this crate only (parse_deps = false): a `pub const` here is a header
    // constant, one in velox-core is not.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=VXM_WRITE_HEADER");

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => {
            // A syntax error in src/ is reported by rustc with a better message.
            println!("cargo:warning=cbindgen could not generate the header: {e}");
            return;
        }
    };
    bindings.write_to_file(out_dir.join("velox_middleware.h"));
    if std::env::var_os("VXM_WRITE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(crate_dir.join("include/velox_middleware.h"));
    }
}
