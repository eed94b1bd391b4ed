//! Where a cache miss is built: the Velox server, or this host's Go toolchain.
//!
//! Running `go` on the RoadRunner host is a deliberate choice, never a fallback: an
//! unset `${VELOX_URL}` makes `server_url` empty, and that must fail the engine's
//! creation rather than start compiling on a production web server.

use super::Config;
use crate::error::{Error, Result};

/// The one build path a valid configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPath<'a> {
    /// `server_url`: the Velox server's base URL.
    Velox(&'a str),
    /// `local_build_enabled: true`: the embedded local builder (`crate::local`).
    Local,
}

impl Config {
    /// The build path, or an error naming the key to set: exactly one of `server_url`
    /// and `local_build_enabled: true` must be given.
    ///
    /// Checked when an engine is made, not by [`Config::from_json`], so that tools that
    /// only read the cache (`velox-cache`) need neither key.
    pub fn build_path(&self) -> Result<BuildPath<'_>> {
        match (self.server_url.as_deref(), self.local_build_enabled) {
            (Some(url), false) => Ok(BuildPath::Velox(url)),
            (None, true) => Ok(BuildPath::Local),
            (None, false) => Err(Error::config(
                "server_url",
                "is required: set it to the Velox server's URL (`vx server`, e.g. \
                 http://127.0.0.1:9000); it is absent or empty (an unset environment \
                 variable gives an empty value). To build binaries on this host with the Go \
                 toolchain instead, set local_build_enabled: true",
            )),
            (Some(_), true) => Err(Error::config(
                "local_build_enabled",
                "is true while server_url is set: binaries are built either by the Velox \
                 server or on this host, not both; remove server_url or local_build_enabled",
            )),
        }
    }
}
