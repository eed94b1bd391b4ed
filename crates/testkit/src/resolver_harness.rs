//! A resolver without a cache, against a build directory the fake Velox server's answers
//! point into: shared by the resolver tests that drive it through a real HTTP fake.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use velox_core::resolve::respond::{Prefer, Resolved};
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{Artifact, BuildRequest, Cancel, Config, Error};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a worker asks for: linux/amd64 with the http plugin at `tag` (one build per tag).
pub fn http_request(tag: &str) -> BuildRequest {
    let json = serde_json::json!({
        "request_id": "0b6a3e0c-5d43-4a8e-9d53-7b8b3f3f0c11",
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": tag}]
    });
    BuildRequest::parse(json.to_string().as_bytes()).unwrap()
}

/// The bytes behind an artifact's descriptor, from its current offset on.
pub fn contents(a: &Artifact) -> Vec<u8> {
    let mut out = Vec::new();
    (&*a.file).read_to_end(&mut out).unwrap();
    out
}

/// A build directory the fake's answers point into, and the resolver is allowed to read.
pub struct Builds {
    dir: tempfile::TempDir,
}

impl Builds {
    pub fn new() -> Builds {
        Builds {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// Writes a Go executable whose build information answers `req` (every field
    /// honoured), ending with `payload`, to `<root>/<name>/rr`; returns that path and the
    /// file's bytes.
    pub fn go_binary(&self, name: &str, req: &BuildRequest, payload: &[u8]) -> (String, Vec<u8>) {
        let bytes = crate::go_exe::build_for(req, payload);
        (self.binary(name, &bytes), bytes)
    }

    /// Writes `bytes` to `<root>/<name>/rr` and returns that path, as the fake answers it.
    pub fn binary(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.root().join(name).join("rr");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Default for Builds {
    fn default() -> Self {
        Builds::new()
    }
}

/// A resolver with its stats and the shutdown token that ends it.
pub struct Harness {
    pub resolver: Arc<Resolver>,
    pub stats: Arc<Stats>,
    pub shutdown: CancellationToken,
    /// The resolver's cache, for tests that look at what it kept (`harness_with_cache`).
    pub cache: Option<Arc<velox_core::cache::Cache>>,
}

/// A Velox client of `url` with one attempt per build, output read from `allowed`, no
/// cache, and `extra` keys of the `velox:` section on top.
pub fn velox_config(url: &str, allowed: &std::path::Path, extra: serde_json::Value) -> Config {
    let mut json = serde_json::json!({
        "server_url": url,
        "cache": {"enabled": false},
        "allowed_build_dirs": [allowed],
        "build_timeout": "20s",
        "retry": {"max_attempts": 1},
    });
    for (k, v) in extra.as_object().expect("extra keys are an object") {
        json[k] = v.clone();
    }
    Config::from_json(json.to_string().as_bytes()).unwrap()
}

/// A resolver over `config` with the cache it names opened.
pub fn harness_with_cache(config: Config) -> Harness {
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(velox_core::cache::Cache::open(&config.cache, stats.clone()).unwrap());
    let shutdown = CancellationToken::new();
    let resolver = Resolver::new(
        Arc::new(config),
        Some(cache.clone()),
        stats.clone(),
        shutdown.clone(),
    )
    .unwrap();
    Harness {
        resolver: Arc::new(resolver),
        stats,
        shutdown,
        cache: Some(cache),
    }
}

/// A resolver over `config` with no cache.
pub fn harness(config: Config) -> Harness {
    let stats = Arc::new(Stats::default());
    let shutdown = CancellationToken::new();
    let resolver = Resolver::new(Arc::new(config), None, stats.clone(), shutdown.clone()).unwrap();
    Harness {
        resolver: Arc::new(resolver),
        stats,
        shutdown,
        cache: None,
    }
}

/// What the engine does with a request, minus the runtime it blocks on: the cache on the
/// calling thread, then a build. Tests drive the resolver only this way, so that they
/// test the path hosts take.
pub async fn resolve_or_pending(
    resolver: &Resolver,
    req: BuildRequest,
    cancel: Option<Cancel>,
    prefer: Prefer,
) -> Result<Resolved, Error> {
    answer(resolver, req, cancel, Some(prefer)).await
}

/// [`resolve_or_pending`] for a caller that cannot take a `Pending` answer.
pub async fn resolve(
    resolver: &Resolver,
    req: BuildRequest,
    cancel: Option<Cancel>,
) -> Result<Artifact, Error> {
    answer(resolver, req, cancel, None).await?.ready()
}

async fn answer(
    resolver: &Resolver,
    req: BuildRequest,
    cancel: Option<Cancel>,
    prefer: Option<Prefer>,
) -> Result<Resolved, Error> {
    if let Some(hit) = resolver.cached(&req) {
        return Ok(Resolved::Ready(hit));
    }
    resolver.resolve_missed(req, cancel, prefer).await
}
