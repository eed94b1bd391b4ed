//! Integrity through the C ABI: the cache serves exactly the bytes that were built, and
//! nothing from outside `allowed_build_dirs`. One test per way an adversarial run found
//! to break that (hard links, shared inodes, mode bits, FIFOs, symlinks in the cache
//! directory, cross-origin redirects, configs that panicked or were ambiguous), plus the
//! content hash that hosts build their ETag from.

use velox_testkit::fake_velox;
use velox_testkit::ffi_host;

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::{Duration, Instant};

use fake_velox::{FakeVelox, Reply};
use ffi_host::{message, resolve_on_thread, Ptr, World, REQUEST};
use sha2::{Digest, Sha256};
use velox_core::request::BuildRequest;
use velox_middleware::artifact::*;
use velox_middleware::cache::{vxm_cache_lookup, vxm_cache_store};
use velox_middleware::engine::*;
use velox_middleware::error::*;
use velox_middleware::status::vxm_status;

/// Another request (another key) than [`REQUEST`].
pub(super) const REQUEST2: &str = r#"{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"},"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.1"}]}"#;

/// No Velox call happens in the store/lookup tests; the URL only selects the Velox path.
pub(super) const NO_SERVER: &str = "http://127.0.0.1:9";

pub(super) fn key_of(request: &str) -> String {
    BuildRequest::parse(request.as_bytes())
        .unwrap()
        .key()
        .to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn root(w: &World) -> PathBuf {
    w.builds.parent().unwrap().to_path_buf()
}

pub(super) fn engine_with(
    config: serde_json::Value,
) -> Result<Ptr<vxm_engine>, (vxm_status, String)> {
    let config = config.to_string();
    let (mut engine, mut err) = (ptr::null_mut(), ptr::null_mut());
    let status = unsafe { vxm_engine_new(config.as_ptr(), config.len(), &mut engine, &mut err) };
    if status == vxm_status::Ok {
        Ok(Ptr(engine))
    } else {
        let text = unsafe { message(err) };
        unsafe { vxm_error_free(err) };
        Err((status, text))
    }
}

pub(super) struct Art(*mut vxm_artifact);

impl Art {
    fn bytes(&self) -> Vec<u8> {
        let fd = unsafe { libc::dup(vxm_artifact_fd(self.0)) };
        assert!(fd >= 0);
        let file = unsafe { File::from_raw_fd(fd) };
        let mut out = vec![0u8; unsafe { vxm_artifact_size(self.0) } as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut out, 0).unwrap();
        out
    }

    fn sha256(&self) -> String {
        unsafe { CStr::from_ptr(vxm_artifact_sha256(self.0)) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn mode(&self) -> u32 {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(vxm_artifact_fd(self.0), &mut st) }, 0);
        st.st_mode & 0o7777
    }
}

impl Drop for Art {
    fn drop(&mut self) {
        unsafe { vxm_artifact_free(self.0) };
    }
}

pub(super) fn store(
    e: Ptr<vxm_engine>,
    request: &str,
    path: &Path,
) -> Result<Art, (vxm_status, String)> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let (mut a, mut err) = (ptr::null_mut(), ptr::null_mut());
    let status = unsafe {
        vxm_cache_store(
            e.0,
            request.as_ptr(),
            request.len(),
            path.as_ptr(),
            1,
            &mut a,
            &mut err,
        )
    };
    if status == vxm_status::Ok {
        Ok(Art(a))
    } else {
        let text = unsafe { message(err) };
        unsafe { vxm_error_free(err) };
        Err((status, text))
    }
}

pub(super) fn lookup(e: Ptr<vxm_engine>, request: &str) -> Option<Art> {
    let (mut a, mut err) = (ptr::null_mut(), ptr::null_mut());
    let status =
        unsafe { vxm_cache_lookup(e.0, request.as_ptr(), request.len(), &mut a, &mut err) };
    match status {
        vxm_status::Ok => Some(Art(a)),
        vxm_status::NotFound => None,
        other => panic!("lookup: {other:?}: {}", unsafe { message(err) }),
    }
}

fn free(e: Ptr<vxm_engine>) {
    unsafe { vxm_engine_free(e.0) };
}

/// Finding 1: the Velox answer names `allowed/rr`, a hard link to a file outside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_link_out_of_the_allowed_dirs_is_refused_as_unsafe_path() {
    let w = World::new();
    let outside = root(&w).join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"the outside secret").unwrap();
    let link = w.builds.join("h").join("rr");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::fs::hard_link(outside.join("secret"), &link).unwrap();

    let fake = FakeVelox::start(Reply::success(link.to_str().unwrap())).await;
    let e = w.engine(
        &fake.url(),
        serde_json::json!({"retry": {"max_attempts": 1}}),
    );
    let r = resolve_on_thread(e, None).await.unwrap();
    let text = unsafe { message(r.error.0) };
    assert_eq!(r.status, vxm_status::UnsafePath, "{text}");
    assert!(text.contains("hard links"), "{text}");
    unsafe { vxm_error_free(r.error.0) };
    assert!(r.artifact.0.is_null());
    free(e);
    let cached: Vec<_> = std::fs::read_dir(&w.cache_dir)
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| d.file_name().to_string_lossy().ends_with(".bin"))
        .collect();
    assert!(cached.is_empty(), "stored: {cached:?}");
}

/// Finding 2: the next build written to the same path must not change the stored one.
#[test]
fn a_rewritten_build_output_does_not_change_what_the_cache_serves() {
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let p = PathBuf::from(w.binary(b"first build, 32 bytes long......"));
    let k1 = store(e, REQUEST, &p).unwrap();
    assert_eq!(k1.bytes(), b"first build, 32 bytes long......");
    // The next build, same size, written in place.
    std::fs::write(&p, b"SECOND build, other bytes.......").unwrap();
    let k2 = store(e, REQUEST2, &p).unwrap();
    assert_eq!(k2.bytes(), b"SECOND build, other bytes.......");

    let hit = lookup(e, REQUEST).unwrap();
    assert_eq!(hit.bytes(), b"first build, 32 bytes long......");
    assert_eq!(
        hit.sha256(),
        sha256_hex(b"first build, 32 bytes long......")
    );
    assert_eq!(k1.bytes(), b"first build, 32 bytes long......");
    drop((k1, k2, hit));
    free(e);
}

/// Finding 3: setuid, setgid, sticky and write bits of the source never reach the cache.
#[test]
fn cached_binaries_are_0755_or_0644_without_special_bits() {
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let p = PathBuf::from(w.binary(b"an executable"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o7777)).unwrap();
    let a = store(e, REQUEST, &p).unwrap();
    assert_eq!(a.mode(), 0o755, "{:o}", a.mode());
    let on_disk = std::fs::metadata(w.cache_dir.join(format!("{}.bin", key_of(REQUEST)))).unwrap();
    assert_eq!(on_disk.mode() & 0o7777, 0o755);
    assert_eq!(on_disk.uid(), unsafe { libc::geteuid() });

    let q = root(&w).join("plain");
    std::fs::write(&q, b"not executable").unwrap();
    std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o666)).unwrap();
    let b = store(e, REQUEST2, &q).unwrap();
    assert_eq!(b.mode(), 0o644, "{:o}", b.mode());
    drop((a, b));
    free(e);
}

/// Finding 4: every artifact carries the SHA-256 of its bytes, recorded in the metadata.
#[test]
fn artifacts_carry_the_sha256_of_their_bytes_and_the_metadata_records_it() {
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let content = b"MZ a RoadRunner build".repeat(1000);
    let p = PathBuf::from(w.binary(&content));
    let stored = store(e, REQUEST, &p).unwrap();
    assert_eq!(stored.sha256(), sha256_hex(&content));
    let hit = lookup(e, REQUEST).unwrap();
    assert_eq!(hit.sha256(), sha256_hex(&content));
    assert!(unsafe { CStr::from_ptr(vxm_artifact_sha256(ptr::null())) }
        .to_bytes()
        .is_empty());

    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.cache_dir.join(format!("{}.json", key_of(REQUEST)))).unwrap(),
    )
    .unwrap();
    assert_eq!(json["sha256"], sha256_hex(&content));
    drop((stored, hit));
    free(e);
}

/// The seed plugin's reader: its `CacheEntry` fields, all present with their types, in
/// its order; `sha256` is the one field added, last, which Go's decoder ignores.
#[test]
fn metadata_keeps_every_seed_field_and_only_adds_sha256() {
    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    struct SeedPlatform {
        os: String,
        arch: String,
    }
    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    struct SeedCacheEntry {
        version: String,
        hash: String,
        binary_file: String,
        file_size: i64,
        rr_version: String,
        platform: SeedPlatform,
        plugins: Vec<serde_json::Value>,
        created_at: i64,
        last_accessed: i64,
        access_count: i64,
        build_duration_ms: i64,
    }
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let a = store(e, REQUEST, &PathBuf::from(w.binary(b"bytes"))).unwrap();
    drop(a);
    free(e);
    let raw =
        std::fs::read_to_string(w.cache_dir.join(format!("{}.json", key_of(REQUEST)))).unwrap();
    let entry: SeedCacheEntry = serde_json::from_str(&raw).unwrap();
    assert_eq!(entry.hash, key_of(REQUEST));
    assert_eq!(entry.binary_file, format!("{}.bin", key_of(REQUEST)));
    let fields: Vec<&str> = raw
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "version",
            "hash",
            "binary_file",
            "file_size",
            "rr_version",
            "platform",
            "plugins",
            "created_at",
            "last_accessed",
            "access_count",
            "build_duration_ms",
            "sha256"
        ]
    );
}

/// Finding 4: an entry the seed wrote (no hash) is hashed once in the background and the
/// hash recorded; a hit before that hashes it itself.
#[test]
fn seed_entries_get_their_hash_computed_once_and_recorded() {
    let w = World::new();
    std::fs::create_dir_all(&w.cache_dir).unwrap();
    // A Go executable answering REQUEST: with verify_builds on, anything else would be
    // moved aside by the background provenance check.
    let content = ffi_host::exe(&b"a binary the seed plugin stored".repeat(3000));
    let key = key_of(REQUEST);
    std::fs::write(w.cache_dir.join(format!("{key}.bin")), &content).unwrap();
    let seed_json = format!(
        "{{\n  \"version\": \"1.0\",\n  \"hash\": \"{key}\",\n  \"binary_file\": \"{key}.bin\",\n  \"file_size\": {},\n  \"rr_version\": \"v2025.1.5\",\n  \"platform\": {{\n    \"os\": \"linux\",\n    \"arch\": \"amd64\"\n  }},\n  \"plugins\": [\n    {{\n      \"module_name\": \"github.com/roadrunner-server/http/v5\",\n      \"tag\": \"v5.3.0\"\n    }}\n  ],\n  \"created_at\": 1,\n  \"last_accessed\": 1,\n  \"access_count\": 1,\n  \"build_duration_ms\": 1\n}}",
        content.len()
    );
    let json_path = w.cache_dir.join(format!("{key}.json"));
    std::fs::write(&json_path, seed_json).unwrap();

    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let give_up = Instant::now() + Duration::from_secs(30);
    let recorded = loop {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        if let Some(h) = v["sha256"].as_str() {
            break h.to_owned();
        }
        assert!(Instant::now() < give_up, "no sha256 recorded: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(recorded, sha256_hex(&content));
    let hit = lookup(e, REQUEST).unwrap();
    assert_eq!(hit.sha256(), sha256_hex(&content));
    drop(hit);
    free(e);
}

/// The ETag is the hash: a forced rebuild gives the same key other bytes and another hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_rebuild_serves_the_same_key_with_another_hash() {
    let w = World::new();
    let first = w.builds.join("a").join("rr");
    let second = w.builds.join("b").join("rr");
    for (p, payload) in [(&first, b"build one"), (&second, b"build two")] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, ffi_host::exe(payload)).unwrap();
    }
    let fake = FakeVelox::start(Reply::success(first.to_str().unwrap())).await;
    let e = w.engine(&fake.url(), serde_json::json!({}));
    let r = resolve_on_thread(e, None).await.unwrap();
    assert_eq!(r.status, vxm_status::Ok);
    let one = Art(r.artifact.0);

    fake.set_fallback(Reply::success(second.to_str().unwrap()));
    let forced = REQUEST.replacen('{', r#"{"force_rebuild":true,"#, 1);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let e = e;
        let (mut a, mut err) = (ptr::null_mut(), ptr::null_mut());
        let st = unsafe {
            velox_middleware::resolve::vxm_resolve(
                e.0,
                forced.as_ptr(),
                forced.len(),
                ptr::null(),
                &mut a,
                &mut err,
            )
        };
        let _ = tx.send((st, Ptr(a)));
    });
    let (st, a) = rx.await.unwrap();
    assert_eq!(st, vxm_status::Ok);
    let two = Art(a.0);
    let key = |a: &Art| {
        unsafe { CStr::from_ptr(vxm_artifact_key(a.0)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(key(&one), key(&two));
    assert_eq!(one.sha256(), sha256_hex(&ffi_host::exe(b"build one")));
    assert_eq!(two.sha256(), sha256_hex(&ffi_host::exe(b"build two")));
    drop((one, two));
    free(e);
}

/// Finding 5: `vxm_cache_store` on a FIFO returns an error instead of blocking forever.
#[test]
fn storing_a_fifo_is_refused_without_blocking() {
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let fifo = root(&w).join("fifo");
    let c = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(store(e, REQUEST, &f).err());
    });
    let outcome = rx.recv_timeout(Duration::from_secs(20));
    if outcome.is_err() {
        // Release the blocked open so the thread can end, then fail.
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        panic!("vxm_cache_store blocked on a FIFO");
    }
    let (status, text) = outcome.unwrap().expect("a FIFO was stored");
    assert_eq!(status, vxm_status::UnsafePath, "{text}");
    assert!(text.contains("regular file"), "{text}");
    free(e);
}

/// Finding 6: a `{key}.bin` symlink (with a `.json` whose size matches) is never served
/// while the entry is indexed.
/// What the symlink tests put outside the cache: as long as the cached binary, so that a
/// check of the size alone would take the link for the entry.
const OUTSIDE_SAME_SIZE: &[u8] = b"root:x:0:0:outside bytes";

/// Stores `REQUEST` through `e` with a binary as long as [`OUTSIDE_SAME_SIZE`]; returns
/// its key and the path of its `{key}.bin`.
fn store_a_binary_to_swap(w: &World, e: Ptr<vxm_engine>) -> (String, PathBuf) {
    let content = b"cached bytes of a build!";
    assert_eq!(content.len(), OUTSIDE_SAME_SIZE.len());
    drop(store(e, REQUEST, &PathBuf::from(w.binary(content))).unwrap());
    let key = key_of(REQUEST);
    let bin = w.cache_dir.join(format!("{key}.bin"));
    (key, bin)
}

/// Swaps `bin` for a symbolic link to a file outside the cache holding
/// [`OUTSIDE_SAME_SIZE`]; returns that file's path.
fn swap_for_a_link_outside(w: &World, bin: &Path) -> PathBuf {
    let outside = root(w).join("passwd");
    std::fs::write(&outside, OUTSIDE_SAME_SIZE).unwrap();
    std::fs::remove_file(bin).unwrap();
    std::os::unix::fs::symlink(&outside, bin).unwrap();
    outside
}

#[test]
fn a_symlink_in_the_cache_directory_is_not_followed() {
    let w = World::new();
    // While indexed.
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let (_, bin) = store_a_binary_to_swap(&w, e);
    swap_for_a_link_outside(&w, &bin);
    assert!(
        lookup(e, REQUEST).is_none(),
        "a symlinked binary was served"
    );
    free(e);
}

/// Finding 6, after a restart: recovery and `velox-cache` (one classification) must not
/// take a symlinked `{key}.bin` with a matching `.json` for an entry.
#[test]
fn a_symlink_found_in_the_cache_directory_at_open_is_not_an_entry() {
    let w = World::new();
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    let (key, bin) = store_a_binary_to_swap(&w, e);
    free(e);
    let outside = swap_for_a_link_outside(&w, &bin);

    // The scan must not take it for an entry.
    let report =
        velox_core::cache::inspect::inspect(&w.cache_dir, velox_core::config::EvictionPolicy::Lru)
            .unwrap();
    assert!(report.entries.is_empty(), "{:?}", report.entries);
    let problem = report
        .problems
        .iter()
        .find(|p| p.file == format!("{key}.bin"))
        .unwrap_or_else(|| panic!("{:?}", report.problems));
    assert_eq!(problem.kind, "corrupt");
    // Recovery judges it as the report does: not an entry, swept, never served.
    let e = w.engine(NO_SERVER, serde_json::json!({}));
    assert!(
        lookup(e, REQUEST).is_none(),
        "a symlinked binary was served"
    );
    free(e);
    assert!(problem.detail.contains("symbolic link"), "{problem:?}");
    assert!(
        std::fs::symlink_metadata(&bin).is_err(),
        "the link was not swept"
    );
    assert_eq!(std::fs::read(&outside).unwrap(), OUTSIDE_SAME_SIZE);
}

/// Finding 7: a redirect to another origin is not followed; the error names `Location`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_an_upstream_error_naming_the_location() {
    let w = World::new();
    let path = w.binary(b"the other server's answer");
    let other = FakeVelox::start(Reply::success(path)).await;
    let location = format!("{}{}", other.url(), fake_velox::BUILD_PATH);
    let fake = FakeVelox::start(Reply::Redirect {
        http: 307,
        location: location.clone(),
    })
    .await;
    let e = w.engine(
        &fake.url(),
        serde_json::json!({"retry": {"max_attempts": 3}}),
    );
    let r = resolve_on_thread(e, None).await.unwrap();
    let text = unsafe { message(r.error.0) };
    assert_eq!(r.status, vxm_status::UpstreamUnavailable, "{text}");
    assert!(text.contains(&location), "{text}");
    unsafe { vxm_error_free(r.error.0) };
    assert_eq!(other.call_count(), 0, "the POST went to the other origin");
    assert_eq!(fake.call_count(), 1, "a redirect is not retried");
    free(e);
}

/// Finding 8: a multiplier that made every retry panic is refused at parse time.
#[test]
fn an_absurd_backoff_multiplier_is_refused_naming_the_key() {
    let w = World::new();
    let config = serde_json::json!({
        "server_url": NO_SERVER,
        "retry": {"backoff_multiplier": 1e300},
        "allowed_build_dirs": [w.builds],
    });
    let (status, text) = engine_with(config).map(free).unwrap_err();
    assert_eq!(status, vxm_status::InvalidConfig, "{text}");
    assert!(text.contains("retry.backoff_multiplier"), "{text}");
}

/// Finding 9: duplicate keys and sub-second intervals are refused; 0 still means off.
#[test]
fn duplicate_keys_and_tiny_intervals_are_refused_naming_the_key() {
    let dup = br#"{"build_timeout":"1s","build_timeout":"999h"}"#;
    let (mut engine, mut err) = (ptr::null_mut(), ptr::null_mut());
    let status = unsafe { vxm_engine_new(dup.as_ptr(), dup.len(), &mut engine, &mut err) };
    let text = unsafe { message(err) };
    unsafe { vxm_error_free(err) };
    assert_eq!(status, vxm_status::InvalidConfig, "{text}");
    assert!(
        text.contains("build_timeout") && text.contains("twice"),
        "{text}"
    );

    let w = World::new();
    for key in ["cleanup_interval", "access_update_interval"] {
        for value in ["1ns", "999ms"] {
            let config = serde_json::json!({
                "server_url": NO_SERVER,
                "cache": {"enabled": true, "directory": w.cache_dir, key: value},
            });
            let (status, text) = engine_with(config).map(free).unwrap_err();
            assert_eq!(status, vxm_status::InvalidConfig, "{text}");
            assert!(text.contains(&format!("cache.{key}")), "{text}");
        }
        let off = serde_json::json!({
            "server_url": NO_SERVER,
            "cache": {"enabled": true, "directory": w.cache_dir, key: "0"},
        });
        free(engine_with(off).unwrap());
    }
}
