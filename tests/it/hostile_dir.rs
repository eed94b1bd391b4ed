//! The cache directory has other writers (other processes, the seed plugin, an operator,
//! an attacker with write access to it): every file the library reads or locks there is
//! opened without following a link and without blocking, and anything that is not a
//! small regular file is foreign (counted as `foreign_files`, never believed). Each test
//! runs its calls on a thread with a time limit: a hang is a failure, never a stuck run.

use velox_testkit::fake_velox;
use velox_testkit::ffi_host;

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::mpsc;
use std::time::Duration;

use super::integrity::{engine_with, key_of, lookup, store, NO_SERVER, REQUEST2};
use fake_velox::{FakeVelox, Reply};
use ffi_host::{message, resolve_on_thread, stats, Ptr, World, REQUEST};
use velox_core::cache::lease::{self, Lease};
use velox_middleware::artifact::vxm_artifact_free;
use velox_middleware::cache::vxm_cache_state_json;
use velox_middleware::engine::{vxm_engine, vxm_engine_free};
use velox_middleware::error::vxm_error_free;
use velox_middleware::status::vxm_status;
use velox_middleware::strings::vxm_string_free;

const LIMIT: Duration = Duration::from_secs(10);

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Runs `f` on its own thread; panics if it has not returned within `limit`. Before
/// panicking, opens each of `fifos` for writing and closes it, so that a reader stuck on
/// one sees end of file and lets the rest of the test binary go on.
fn bounded<T: Send + 'static>(
    what: &str,
    fifos: &[PathBuf],
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(v) => v,
        Err(_) => {
            for fifo in fifos {
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(fifo);
            }
            panic!("{what} still blocked after {LIMIT:?}");
        }
    }
}

fn new_engine(cache_dir: &Path, url: &str) -> Result<Ptr<vxm_engine>, String> {
    engine_with(serde_json::json!({
        "server_url": url,
        "cache": {"enabled": true, "directory": cache_dir, "cleanup_interval": "0"},
        "allowed_build_dirs": [cache_dir.parent().unwrap().join("builds")],
    }))
    .map_err(|(status, text)| format!("{status:?}: {text}"))
}

fn free(e: Ptr<vxm_engine>) {
    unsafe { vxm_engine_free(e.0) };
}

fn cache_state(dir: &Path, request: &str) -> serde_json::Value {
    let dir = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let (mut json, mut err) = (ptr::null_mut(), ptr::null_mut());
    let status = unsafe {
        vxm_cache_state_json(
            dir.as_ptr(),
            request.as_ptr(),
            request.len(),
            &mut json,
            &mut err,
        )
    };
    assert_eq!(status, vxm_status::Ok, "{}", unsafe { message(err) });
    let v = serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy()).unwrap();
    unsafe { vxm_string_free(json) };
    v
}

fn foreign_files(e: Ptr<vxm_engine>) -> u64 {
    let s = stats(e);
    s["foreign_files"]
        .as_u64()
        .unwrap_or_else(|| panic!("no foreign_files in {s}"))
}

/// A lease of a live owner (this process), as another process sharing the directory
/// would write it; `started_at_ms` tells two of them apart.
fn live_lease(started_at_ms: i64) -> Vec<u8> {
    serde_json::to_vec(&Lease {
        pid: std::process::id(),
        host: lease::hostname(),
        pid_start: None,
        started_at_ms,
        expires_at_ms: lease::now_ms() + 3_600_000,
    })
    .unwrap()
}

#[test]
fn a_fifo_lease_neither_hangs_engine_new_nor_survives_its_sweep() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    let fifo = w.cache_dir.join(format!("{}.lease", key_of(REQUEST)));
    mkfifo(&fifo);
    let dir = w.cache_dir.clone();
    let e = bounded("vxm_engine_new", std::slice::from_ref(&fifo), move || {
        new_engine(&dir, NO_SERVER)
    })
    .unwrap();
    assert!(
        std::fs::symlink_metadata(&fifo).is_err(),
        "the open-time sweep removes a lease that is not a regular file"
    );
    assert!(foreign_files(e) >= 1);
    free(e);
}

#[test]
fn a_fifo_lease_reads_as_absent_without_blocking_cache_state() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    let fifo = w.cache_dir.join(format!("{}.lease", key_of(REQUEST)));
    mkfifo(&fifo);
    let dir = w.cache_dir.clone();
    let state = bounded(
        "vxm_cache_state_json",
        std::slice::from_ref(&fifo),
        move || cache_state(&dir, REQUEST),
    );
    assert_eq!(state["state"], "absent", "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_lease_stops_neither_the_build_nor_other_stores() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::success(w.go_binary(b"built binary"))).await;
    let e = new_engine(&w.cache_dir, &fake.url()).unwrap();
    // Planted after the open, so that only the build's lease acquisition meets it.
    let fifo = w.cache_dir.join(format!("{}.lease", key_of(REQUEST)));
    mkfifo(&fifo);

    let resolved = resolve_on_thread(e, None);
    let other = w.builds.join("other");
    std::fs::write(&other, b"another binary").unwrap();
    let stored = bounded(
        "vxm_cache_store beside a FIFO lease",
        std::slice::from_ref(&fifo),
        move || store(e, REQUEST2, &other).map(drop),
    );
    stored.expect("stored");
    let r = tokio::time::timeout(LIMIT, resolved).await;
    let Ok(Ok(r)) = r else {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
        panic!("vxm_resolve still blocked on a FIFO lease after {LIMIT:?}");
    };
    assert_eq!(r.status, vxm_status::Ok, "{}", unsafe {
        message(r.error.0)
    });
    unsafe { vxm_artifact_free(r.artifact.0) };
    assert_eq!(fake.call_count(), 1);
    assert!(foreign_files(e) >= 1);
    free(e);
}

#[test]
fn a_symlinked_lease_is_not_followed() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    // A live lease outside the directory, for a host that the link makes up.
    let outside = w.builds.join("planted.lease");
    std::fs::write(&outside, live_lease(lease::now_ms())).unwrap();
    let link = w.cache_dir.join(format!("{}.lease", key_of(REQUEST)));
    std::os::unix::fs::symlink(&outside, &link).unwrap();

    let state = cache_state(&w.cache_dir, REQUEST);
    assert_eq!(
        state["state"], "absent",
        "a linked lease is not believed: {state}"
    );

    let e = new_engine(&w.cache_dir, NO_SERVER).unwrap();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the sweep removes the link"
    );
    assert!(outside.exists(), "and never what it points to");
    free(e);
}

#[test]
fn a_fifo_usage_file_does_not_block_stats() {
    let w = World::new();
    let e = new_engine(&w.cache_dir, NO_SERVER).unwrap();
    let usage = w.cache_dir.join(".velox.usage");
    let _ = std::fs::remove_file(&usage);
    mkfifo(&usage);
    let s = bounded("vxm_stats_json", std::slice::from_ref(&usage), move || {
        stats(e)
    });
    assert!(s["dir_entries"].is_null(), "{s}");
    assert!(s["foreign_files"].as_u64().unwrap() >= 1, "{s}");
    free(e);
}

#[test]
fn symlinked_lock_files_create_nothing_at_their_targets() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    let lock_target = w.builds.join("lock-target");
    let store_lock_target = w.builds.join("store-lock-target");
    std::os::unix::fs::symlink(&lock_target, w.cache_dir.join(".velox.lock")).unwrap();
    std::os::unix::fs::symlink(&store_lock_target, w.cache_dir.join(".velox.store.lock")).unwrap();

    let dir = w.cache_dir.clone();
    let e = bounded("vxm_engine_new", &[], move || new_engine(&dir, NO_SERVER)).unwrap();
    let src = w.builds.join("src");
    std::fs::write(&src, b"a binary").unwrap();
    store(e, REQUEST, &src).expect("stored");
    assert!(lookup(e, REQUEST).is_some());

    assert!(
        !lock_target.exists(),
        "a file was created at .velox.lock's target"
    );
    assert!(
        !store_lock_target.exists(),
        "a file was created at .velox.store.lock's target"
    );
    for name in [".velox.lock", ".velox.store.lock"] {
        let m = std::fs::symlink_metadata(w.cache_dir.join(name)).unwrap();
        assert!(m.is_file(), "{name} is a regular file of the directory now");
    }
    assert!(foreign_files(e) >= 2);
    free(e);
}

#[test]
fn a_symlinked_bin_of_the_right_size_is_not_cached_for_state_or_lookup() {
    let w = World::new();
    let e = new_engine(&w.cache_dir, NO_SERVER).unwrap();
    let src = w.builds.join("src");
    std::fs::write(&src, b"a binary").unwrap();
    store(e, REQUEST, &src).expect("stored");
    assert_eq!(cache_state(&w.cache_dir, REQUEST)["state"], "cached");

    let bin = w.cache_dir.join(format!("{}.bin", key_of(REQUEST)));
    let elsewhere = w.builds.join("same size");
    std::fs::write(&elsewhere, b"X binary").unwrap();
    std::fs::remove_file(&bin).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &bin).unwrap();

    assert!(lookup(e, REQUEST).is_none(), "lookup must not find it");
    let state = cache_state(&w.cache_dir, REQUEST);
    assert_eq!(
        state["state"], "absent",
        "state must agree with lookup: {state}"
    );
    free(e);
}

#[test]
fn a_health_probe_left_by_a_crash_is_swept_at_open() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    let probe = w
        .cache_dir
        .join("temp_0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d.health");
    std::fs::write(&probe, b"ok").unwrap();
    let e = new_engine(&w.cache_dir, NO_SERVER).unwrap();
    assert!(
        !probe.exists(),
        "the health probe's temp file is a leftover to sweep"
    );
    free(e);
}

/// Item: a build's lease is released (read, compared, removed) under the store lock, the
/// lock a taker holds when it replaces a dead lease: so it can never remove the lease
/// another process has just taken over. The test plays that other process: it holds
/// `.velox.store.lock` (its own open file, as another process would) while the build
/// ends, takes the lease over, and only then lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_under_the_store_lock_is_not_removed_by_its_old_owner() {
    let w = World::new();
    let fake = FakeVelox::start(Reply::connect_after(
        Duration::from_millis(600),
        "invalid_argument",
        "no such plugin",
    ))
    .await;
    let e = new_engine(&w.cache_dir, &fake.url()).unwrap();
    let lease_path = w.cache_dir.join(format!("{}.lease", key_of(REQUEST)));

    let resolved = resolve_on_thread(e, None);
    fake.wait_for(LIMIT, "the build call", |c| c.len() == 1)
        .await;
    let ours = std::fs::read(&lease_path).expect("the building engine holds a lease");

    let store_lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(w.cache_dir.join(".velox.store.lock"))
        .unwrap();
    assert_eq!(
        unsafe { libc::flock(store_lock.as_raw_fd(), libc::LOCK_EX) },
        0
    );

    // The build fails while "another process" holds the store lock.
    let mut resolved = resolved;
    let early = tokio::time::timeout(Duration::from_millis(1500), &mut resolved).await;
    assert_eq!(
        std::fs::read(&lease_path).ok().as_deref(),
        Some(ours.as_slice()),
        "the lease was removed while another process held the store lock (returned: {})",
        early.is_ok()
    );
    // That process finds it dead and takes it over, then lets go of the lock.
    let theirs = live_lease(1);
    std::fs::remove_file(&lease_path).unwrap();
    std::fs::write(&lease_path, &theirs).unwrap();
    drop(store_lock);

    let r = match early {
        Ok(r) => r.unwrap(),
        Err(_) => tokio::time::timeout(LIMIT, resolved)
            .await
            .expect("the build's end is not blocked once the lock is free")
            .unwrap(),
    };
    assert_ne!(r.status, vxm_status::Ok);
    unsafe { vxm_error_free(r.error.0) };
    assert_eq!(
        std::fs::read(&lease_path).ok().as_deref(),
        Some(theirs.as_slice()),
        "the old owner removed the lease another process had taken over"
    );
    std::fs::remove_file(&lease_path).unwrap();
    free(e);
}
