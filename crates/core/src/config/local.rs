//! Settings of the embedded local builder (`crate::local`), as `super::parse` reads them
//! from the keys named in each field's doc (their defaults and bounds: `crate::config::keys`).

use std::path::PathBuf;

/// Where the Go sources of a local build come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceMode {
    /// Use RoadRunner's own source when the Go module proxy serves it for `rr_version`,
    /// else the generated main.
    #[default]
    Auto,
    /// Always the small generated main on endure (no RoadRunner source needed).
    Generated,
    /// Always RoadRunner's source; fail when the proxy does not serve it.
    RoadRunner,
}

impl SourceMode {
    /// Parses the `local_build_source` key: `auto`, `generated` or `roadrunner`.
    pub fn parse(s: &str) -> Option<SourceMode> {
        match s {
            "auto" => Some(SourceMode::Auto),
            "generated" => Some(SourceMode::Generated),
            "roadrunner" => Some(SourceMode::RoadRunner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBuildConfig {
    /// `local_builds`: builds running at once, each a `go build` that uses every core it
    /// is given.
    pub max_concurrent: usize,
    /// `local_build_queue`: builds allowed to wait for a slot; one more is refused with
    /// `UpstreamUnavailable` ("local build queue full") instead of piling up.
    pub queue_limit: usize,
    /// `local_build_dir`: parent of the private workspaces and output directories.
    pub work_dir: PathBuf,
    /// `go_binary`: the go command (a bare name is looked up in `PATH`).
    pub go_binary: PathBuf,
    /// `local_build_source`.
    pub source: SourceMode,
}

impl Default for LocalBuildConfig {
    fn default() -> Self {
        LocalBuildConfig {
            max_concurrent: 1,
            queue_limit: 16,
            work_dir: std::env::temp_dir(),
            go_binary: PathBuf::from("go"),
            source: SourceMode::Auto,
        }
    }
}
