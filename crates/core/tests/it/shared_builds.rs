//! Builds in flight shared by real processes on one cache directory, against the fake
//! Velox server: identical misses in 3 processes make 1 upstream build, and a lease
//! owner killed with SIGKILL mid-build is taken over by another process.
//!
//! The processes are this test binary run again with `VXM_BUILD_CHILD` set: a child
//! runs `child_resolves` only (a resolver on the shared directory, N concurrent resolves
//! of one request, every artifact's bytes checked) and exits non-zero on any failure.

use velox_testkit::fake_velox;
use velox_testkit::resolver_harness;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use resolver_harness::resolve;
use tokio_util::sync::CancellationToken;
use velox_core::cache::Cache;
use velox_core::resolve::Resolver;
use velox_core::stats::Stats;
use velox_core::{BuildRequest, Config};

const CHILD_ENV: &str = "VXM_BUILD_CHILD";
const REQUEST: &str = r#"{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"},"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.2.7"}]}"#;

/// What a child needs, passed through the environment as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct Spec {
    url: String,
    cache_dir: PathBuf,
    builds: PathBuf,
    expected: PathBuf,
    start: PathBuf,
    resolves: usize,
}

fn config(spec: &Spec) -> Config {
    let json = serde_json::json!({
        "server_url": spec.url,
        "build_timeout": "60s",
        "cache": {"enabled": true, "directory": spec.cache_dir},
        "allowed_build_dirs": [spec.builds],
    });
    Config::from_json(json.to_string().as_bytes()).unwrap()
}

/// Runs only inside a child process (a no-op in the normal test run).
#[test]
fn child_resolves() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: Spec = serde_json::from_str(&spec).unwrap();
    let config = config(&spec);
    let stats = Arc::new(Stats::default());
    let cache = Arc::new(Cache::open(&config.cache, stats.clone()).unwrap());
    let resolver = Arc::new(
        Resolver::new(
            Arc::new(config),
            Some(cache.clone()),
            stats.clone(),
            CancellationToken::new(),
        )
        .unwrap(),
    );
    let give_up = Instant::now() + Duration::from_secs(60);
    while !spec.start.exists() {
        assert!(Instant::now() < give_up, "start file never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let expected = std::fs::read(&spec.expected).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sources = rt.block_on(async {
        let tasks: Vec<_> = (0..spec.resolves)
            .map(|_| {
                let resolver = resolver.clone();
                tokio::spawn(async move {
                    let req = BuildRequest::parse(REQUEST.as_bytes()).unwrap();
                    resolve(&resolver, req, None).await
                })
            })
            .collect();
        let mut sources = Vec::new();
        for t in tasks {
            let artifact = t.await.unwrap().expect("resolve succeeds");
            let mut bytes = vec![0u8; artifact.size as usize];
            artifact.file.read_exact_at(&mut bytes, 0).unwrap();
            assert!(bytes == expected, "wrong bytes served");
            sources.push(format!("{:?}", artifact.source));
        }
        sources
    });
    println!(
        "child {}: {} right answers, builds {}, joined {}, sources {sources:?}",
        std::process::id(),
        sources.len(),
        Stats::get(&stats.builds),
        Stats::get(&stats.joined)
    );
    cache.close();
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    cache_dir: PathBuf,
    builds: PathBuf,
    binary: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let builds = root.join("builds");
        let binary = builds.join("b1").join("rr");
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        let req = BuildRequest::parse(REQUEST.as_bytes()).unwrap();
        let bytes = velox_testkit::go_exe::GoExe::for_request(&req)
            .padded_to(200_000)
            .to_bytes();
        std::fs::write(&binary, bytes).unwrap();
        World {
            cache_dir: root.join("cache"),
            root,
            builds,
            binary,
            _tmp: tmp,
        }
    }

    fn spawn(&self, url: &str, resolves: usize, start: &Path) -> Child {
        let spec = Spec {
            url: url.to_owned(),
            cache_dir: self.cache_dir.clone(),
            builds: self.builds.clone(),
            expected: self.binary.clone(),
            start: start.to_path_buf(),
            resolves,
        };
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shared_builds::child_resolves",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, serde_json::to_string(&spec).unwrap())
            .env("RUST_LOG", "info")
            .spawn()
            .expect("child process starts")
    }

    fn leases(&self) -> Vec<String> {
        std::fs::read_dir(&self.cache_dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.ends_with(".lease"))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn assert_no_leases(&self) {
        let leases = self.leases();
        assert!(leases.is_empty(), "leases left behind: {leases:?}");
    }

    fn lease_path(&self) -> PathBuf {
        let key = BuildRequest::parse(REQUEST.as_bytes()).unwrap().key();
        self.cache_dir.join(format!("{key}.lease"))
    }
}

async fn wait_success(mut child: Child, limit: Duration) {
    let give_up = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "a child process failed: {status}");
            return;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child process did not finish in {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until(limit: Duration, what: &str, cond: impl Fn() -> bool) {
    let give_up = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_ten_identical_misses_make_one_build() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let world = World::new();
    let binary = world.binary.to_str().unwrap().to_owned();
    // Long enough that every process misses while the first build is in flight.
    let fake = FakeVelox::start(Reply::success_after(Duration::from_millis(1500), binary)).await;
    let start = world.root.join("start");
    let children: Vec<Child> = (0..3)
        .map(|_| world.spawn(&fake.url(), 10, &start))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&start, b"go").unwrap();
    for child in children {
        wait_success(child, Duration::from_secs(120)).await;
    }
    assert_eq!(fake.call_count(), 1, "one upstream build for 3 x 10 misses");
    world.assert_no_leases();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lease_owner_is_taken_over() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let world = World::new();
    let binary = world.binary.to_str().unwrap().to_owned();
    let fake = FakeVelox::start(Reply::success_after(
        Duration::from_millis(300),
        binary.clone(),
    ))
    .await;
    // The first build never finishes on its own.
    fake.script([Reply::success_after(Duration::from_secs(600), binary)]);
    let start = world.root.join("start");
    std::fs::write(&start, b"go").unwrap();

    let owner = world.spawn(&fake.url(), 3, &start);
    let lease = world.lease_path();
    wait_until(
        Duration::from_secs(60),
        "the owner's lease and build",
        || lease.exists() && fake.call_count() == 1,
    )
    .await;
    let waiters: Vec<Child> = (0..2)
        .map(|_| world.spawn(&fake.url(), 5, &start))
        .collect();
    // Let them find the live lease and start waiting (they would build otherwise, and
    // the upstream count below would say so).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fake.call_count(),
        1,
        "the waiters wait while the owner lives"
    );

    let mut owner = owner;
    owner.kill().unwrap(); // SIGKILL: no destructor runs, the lease stays behind
    owner.wait().unwrap(); // reaped, so its pid is gone
    for child in waiters {
        wait_success(child, Duration::from_secs(120)).await;
    }
    assert_eq!(fake.call_count(), 2, "one takeover build after the kill");
    world.assert_no_leases();
    assert!(world
        .cache_dir
        .join(format!(
            "{}.json",
            BuildRequest::parse(REQUEST.as_bytes()).unwrap().key()
        ))
        .exists());
}
