//! velox-core's integration tests, one binary (each test binary is another link of the
//! whole dependency tree): one module per concern. Tests that need a process of their own
//! (crash consistency, several processes on one directory) re-run this binary with
//! `--exact module::test`.

mod admission;
mod build_path;
mod cache;
mod cache_model;
mod cache_policy;
mod config;
mod connect_codes;
mod crash_consistency;
mod directory_index;
mod docs;
mod fuzz_properties;
mod linger;
mod local_build;
mod local_build_real;
mod pickup;
mod provenance;
mod provenance_background;
mod remote_bounds;
mod request;
mod resolve;
mod resolve_cache;
mod resolve_local;
mod shared_builds;
mod shared_dir;
mod unsafe_paths;
mod upstream;
