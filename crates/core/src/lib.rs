//! velox_core: the engine of the RoadRunner `velox` middleware.
//!
//! A PHP worker answers with a JSON build request; this library validates it, derives
//! the seed-compatible cache key, serves the binary from a disk cache or asks a Velox
//! build server for it (with retries, coalescing and cancellation), and hands the host
//! an open file to stream. It is safe Rust with no C ABI: the `velox-middleware` crate
//! (libvelox_middleware) is the C skin over [`Engine`], and `velox-cache` the CLI.
//!
//! The public modules are what those two crates and the integration tests use; the
//! rest is private to the engine.

pub mod artifact;
pub mod cache;
pub mod cancel;
pub mod config;
pub mod engine;
pub mod error;
pub(crate) mod health;
pub mod local;
pub mod logging;
pub mod provenance;
pub mod remote;
pub mod request;
pub mod resolve;
pub mod runtime;
pub(crate) mod shutdown;
pub mod stats;
pub mod upstream;

pub use artifact::{Artifact, Source};
pub use cancel::Cancel;
pub use config::Config;
pub use engine::Engine;
pub use error::{Error, Result};
pub use request::{BuildRequest, CacheKey};
