//! Test helpers shared by the workspace's integration tests and benches: a fake Velox
//! server on 127.0.0.1, a C-ABI host, cache fixtures. A dev-dependency only; never shipped.

pub mod bench;
pub mod build_request;
pub mod cache_fixture;
pub mod fake_velox;
pub mod ffi_host;
pub mod go_exe;
pub mod hostile_s3;
pub mod resolver_harness;
pub mod seaweedfs;

use std::path::{Path, PathBuf};

/// The repository's root: the cross-language assets (`tests/fixtures`, `fuzz/`,
/// `scripts/`) and the shared `target/` live there, not in a crate.
pub fn repo_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit
        .ancestors()
        .nth(2)
        .expect("crates/testkit sits two levels below the root")
        .to_path_buf()
}
