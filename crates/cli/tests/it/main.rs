//! velox-cache's integration tests, one binary: the CLI against real cache directories, and
//! the shared remote tier against a real S3 server (SeaweedFS, `VXM_S3_TESTS=1`).

mod cli;
mod provenance;
mod remote_tier;
