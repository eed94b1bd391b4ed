//! Health and readiness of an engine, for a host's health checks (RoadRunner's `status`
//! plugin asks `/health` and `/ready`). The decisions live here so every host answers the
//! same way:
//!
//! - healthy: the engine can serve. With the cache enabled, its directory must still be
//!   a directory we can create a file in (a full disk, a read-only remount or a deleted
//!   directory make it unhealthy; requests would still be served by the build server,
//!   uncached, but an operator wants to know).
//! - ready: a build path is configured (a Velox server or the local builder) and the
//!   engine is not stopping (the host called `vxm_engine_drain`, or the engine is being
//!   freed). A stopping engine is still healthy: it is finishing what it has.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::cache::layout;

/// What `vxm_engine_health_json` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub ready: bool,
    pub stopping: bool,
    /// `velox` (server_url) or `local` (the embedded local builder).
    pub build_path: &'static str,
    pub cache_enabled: bool,
    /// Why the cache is not usable, naming the directory; `None` when usable or disabled.
    pub cache_problem: Option<String>,
}

impl Health {
    pub fn new(build_path: &'static str, stopping: bool, cache: Option<&Path>) -> Health {
        let cache_problem = cache.and_then(|dir| probe_dir(dir).err());
        Health {
            healthy: cache_problem.is_none(),
            ready: !stopping,
            stopping,
            build_path,
            cache_enabled: cache.is_some(),
            cache_problem,
        }
    }

    pub fn to_json(&self) -> String {
        json!({
            "healthy": self.healthy,
            "ready": self.ready,
            "stopping": self.stopping,
            "build_path": self.build_path,
            "cache_enabled": self.cache_enabled,
            "cache_problem": self.cache_problem,
        })
        .to_string()
    }
}

/// Proves that `dir` is a directory we can create, write and remove a file in. The probe
/// is named like the cache's own temporary files, so a crash between create and remove
/// leaves something the cache's sweep removes.
fn probe_dir(dir: &Path) -> Result<(), String> {
    let fail =
        |what: &str, e: std::io::Error| format!("cache.directory {}: {what}: {e}", dir.display());
    let meta = std::fs::metadata(dir).map_err(|e| fail("not accessible", e))?;
    if !meta.is_dir() {
        return Err(format!(
            "cache.directory {}: not a directory",
            dir.display()
        ));
    }
    let probe = layout::temp_path(dir, layout::HEALTH_EXT);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"ok"));
    let removed = std::fs::remove_file(&probe);
    written.map_err(|e| fail("not writable", e))?;
    removed.map_err(|e| fail("cannot remove a file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_cache_directory_is_healthy_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let h = Health::new("velox", false, Some(dir.path()));
        assert!(h.healthy && h.ready, "{h:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_cache_directory_is_unhealthy_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let h = Health::new("velox", false, Some(&gone));
        assert!(!h.healthy);
        assert!(h.ready, "readiness is about the build path and stopping");
        let why = h.cache_problem.unwrap();
        assert!(
            why.contains("cache.directory") && why.contains("gone"),
            "{why}"
        );
    }

    #[test]
    fn a_file_in_place_of_the_cache_directory_is_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let h = Health::new("local", false, Some(&file));
        assert!(!h.healthy);
        assert!(h.cache_problem.unwrap().contains("not a directory"));
    }

    #[test]
    fn a_stopping_engine_is_healthy_but_not_ready() {
        let h = Health::new("velox", true, None);
        assert!(h.healthy && !h.ready && h.stopping);
        let v: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
        assert_eq!(v["ready"], false);
        assert_eq!(v["build_path"], "velox");
        assert_eq!(v["cache_enabled"], false);
    }
}
