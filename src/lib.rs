//! velox_middleware: the core of the RoadRunner `velox` middleware.
//!
//! A PHP worker answers with a JSON build request; this library validates it, derives
//! the seed-compatible cache key, serves the binary from a disk cache or asks a Velox
//! build server for it (with retries, coalescing and cancellation), and hands the host
//! an open file to stream. The C ABI lives in [`ffi`]; everything else is safe Rust.

pub mod artifact;
pub mod cache;
pub mod cancel;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod health;
pub mod local;
pub mod logging;
pub mod remote;
pub mod request;
pub mod resolve;
pub mod runtime;
pub mod shutdown;
pub mod stats;
pub mod upstream;

pub use artifact::{Artifact, Source};
pub use cancel::Cancel;
pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Result};
pub use request::{BuildRequest, CacheKey};

/// The library version, as `vxm_version` reports it. Hosts refuse a library whose
/// major version (minor while 0.x) differs from the one they were written for.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
