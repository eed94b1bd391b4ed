//! Cache operations: key, lookup, store, remove, cleanup, stats.

use std::ffi::c_char;
use std::path::Path;

use super::args::{arg_bytes, arg_ref, arg_str, need_out};
use super::artifact::{answer_artifact, vxm_artifact};
use super::boundary::boundary;
use super::engine::vxm_engine;
use super::error::vxm_error;
use super::failure::Failure;
use super::status::vxm_status;
use super::strings::{answer_engine_json, answer_json, put_string};
use velox_core::engine::Engine;
use velox_core::request::BuildRequest;

/// Validates a build request and writes its cache key (64 lowercase hex, the seed
/// plugin's key for seed-format requests) to `*out_key`; free it with `vxm_string_free`.
/// Needs no engine. Thread-safe; does not block.
#[no_mangle]
pub unsafe extern "C" fn vxm_request_key(
    request_json: *const u8,
    request_len: usize,
    out_key: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        need_out(out_key, "out_key")?;
        let json = arg_bytes!(request_json, request_len);
        let request = BuildRequest::parse(json)?;
        put_string(out_key, request.key().as_str());
        Ok(())
    })
}

/// Looks the request up in the cache only (never builds). `NOT_FOUND` on a miss or when
/// the cache is disabled, without an error object. A hit does no disk write. A hit on an
/// entry the seed plugin wrote, not yet hashed, reads the binary once to hash it (see
/// `vxm_artifact_sha256`). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn vxm_cache_lookup(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    out_artifact: *mut *mut vxm_artifact,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    // SAFETY: per this function's contract.
    unsafe {
        answer_artifact(
            engine,
            request_json,
            request_len,
            out_artifact,
            out_error,
            Engine::lookup,
        )
    }
}

/// Stores the file at `binary_path` (NUL-terminated) under the request's key. The cache
/// takes a copy of its own (a reflink where the filesystem supports it, never a hard
/// link), written 0644 (0755 if the source had an exec bit) without setuid, setgid or
/// sticky bits, and records its SHA-256 (see `vxm_artifact_sha256`); the source is left
/// in place and later changes to it do not reach the cache. `binary_path` is opened
/// without following a symbolic link and without blocking: a link, a FIFO or anything
/// else that is not a regular file is `UNSAFE_PATH`. Makes room first so that the
/// limits hold. Blocks for the copy. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn vxm_cache_store(
    engine: *const vxm_engine,
    request_json: *const u8,
    request_len: usize,
    binary_path: *const c_char,
    build_duration_ms: u64,
    out_artifact: *mut *mut vxm_artifact,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    let store = |e: &Engine, json: &[u8]| -> Result<_, Failure> {
        let path = arg_str!(binary_path);
        Ok(e.store(json, Path::new(path), build_duration_ms)?)
    };
    // SAFETY: per this function's contract.
    unsafe {
        answer_artifact(
            engine,
            request_json,
            request_len,
            out_artifact,
            out_error,
            store,
        )
    }
}

/// Removes the entry with this key (64 lowercase hex). `NOT_FOUND` when there was none.
/// Artifacts already handed out stay readable. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn vxm_cache_remove(
    engine: *const vxm_engine,
    key: *const c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        let engine = arg_ref!(engine);
        let key = arg_str!(key);
        if engine.inner.remove(key)? {
            Ok(())
        } else {
            Err(velox_core::error::Error::NotFound.into())
        }
    })
}

/// Applies the age, size and count limits now (the periodic cleanup does the same).
/// Blocks for the deletions. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn vxm_cache_cleanup(
    engine: *const vxm_engine,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    boundary(out_error, || {
        let engine = arg_ref!(engine);
        Ok(engine.inner.cleanup()?)
    })
}

/// Writes a JSON object of counters to `*out_json` (free with `vxm_string_free`): at
/// least `entries`, `bytes`, `hits`, `misses`, `builds`, `joined`, `evictions`,
/// `upstream_errors`. `evictions_by_reason` holds every reason (`size`, `count`, `age`,
/// `manual`, `mismatch`), 0 until it happens, so hosts export what they find without a
/// list of their own. `foreign_files` counts, for the whole process, files met in cache
/// directories that the cache did not write (links, FIFOs, oversized leases: never
/// followed or waited for). Thread-safe; does not block (a FIFO in place of the
/// directory's usage file is not read).
#[no_mangle]
pub unsafe extern "C" fn vxm_stats_json(
    engine: *const vxm_engine,
    out_json: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    // SAFETY: per this function's contract.
    unsafe { answer_engine_json(engine, out_json, out_error, Engine::stats_json) }
}

/// Whether a build request is in the cache directory `directory` (NUL-terminated),
/// being built, or neither, as a JSON object written to `*out_json` (free with
/// `vxm_string_free`). Needs no engine, starts no thread and lists no directory: two
/// small file reads and an open, so a web page may call it on every request. Nothing is
/// followed or waited for: a lease or binary that is a link or a FIFO counts as absent,
/// exactly as lookup sees it.
///
/// `{"state":"cached","key":K,"size":N,"sha256":S}` (`sha256` is null when the entry's
/// metadata records none), `{"state":"building","key":K,"age_ms":N,"pid":P,"host":H}`
/// (a live build lease: a process with that pid on this host, or any lease from another
/// host, not older than its owner's `build_timeout`), or `{"state":"absent","key":K}`.
/// `VXM_STATUS_INVALID_REQUEST` for a bad request; `VXM_STATUS_IO` when `directory` is
/// missing or not a directory. Read-only; thread-safe; does not block beyond the reads.
#[no_mangle]
pub unsafe extern "C" fn vxm_cache_state_json(
    directory: *const c_char,
    request_json: *const u8,
    request_len: usize,
    out_json: *mut *mut c_char,
    out_error: *mut *mut vxm_error,
) -> vxm_status {
    answer_json(out_json, out_error, || {
        let directory = arg_str!(directory);
        let json = arg_bytes!(request_json, request_len);
        let request = BuildRequest::parse(json)?;
        let state = velox_core::cache::state::query(Path::new(directory), &request.key())?;
        Ok(serde_json::to_string(&state).expect("state always serialises"))
    })
}
