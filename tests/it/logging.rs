//! Log records: tracing events in, JSON records out, bounded, filtered, and a reader
//! that can be woken.

use std::ffi::{c_char, CStr, CString};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use velox_core::logging::{LogQueue, QueueLayer, MAX_VALUE_BYTES};
use velox_middleware::log::{vxm_log_dropped, vxm_log_next, vxm_log_set_level, vxm_log_wake};
use velox_middleware::status::vxm_status;
use velox_middleware::strings::vxm_string_free;

/// The library's own target; events from other targets count only from `warn` up.
const LIB: &str = "velox_middleware::test";

/// Runs `f` with events going to `queue` (on this thread only).
fn capture(queue: &Arc<LogQueue>, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(QueueLayer::new(Arc::clone(queue)));
    tracing::subscriber::with_default(subscriber, f);
}

fn next_json(queue: &LogQueue) -> Value {
    let record = queue.next(Duration::ZERO).expect("a record");
    assert!(!record.contains('\n'), "one record per line: {record}");
    serde_json::from_str(&record).expect("records are JSON")
}

#[test]
fn events_become_json_records_with_level_target_message_and_fields() {
    let queue = Arc::new(LogQueue::default());
    capture(&queue, || {
        tracing::warn!(
            key = "abc",
            attempt = 2u32,
            delta = -3i64,
            ratio = 1.5,
            cached = true,
            path = ?std::path::Path::new("/tmp/x"),
            "retrying {}",
            "build"
        );
        tracing::error!(target: "velox_middleware::upstream", "gave up");
    });
    let first = next_json(&queue);
    assert_eq!(first["level"], "warn");
    assert_eq!(first["target"], module_path!());
    assert_eq!(first["message"], "retrying build");
    assert_eq!(first["fields"]["key"], "abc");
    assert_eq!(first["fields"]["attempt"], 2);
    assert_eq!(first["fields"]["delta"], -3);
    assert_eq!(first["fields"]["ratio"], 1.5);
    assert_eq!(first["fields"]["cached"], true);
    assert_eq!(first["fields"]["path"], "\"/tmp/x\"");
    assert!(first.get("dropped").is_none());
    let second = next_json(&queue);
    assert_eq!(second["level"], "error");
    assert_eq!(second["target"], "velox_middleware::upstream");
    assert_eq!(second["message"], "gave up");
    assert_eq!(second["fields"], serde_json::json!({}));
    assert!(queue.is_empty());
}

#[test]
fn level_filter_decides_what_is_recorded() {
    let queue = Arc::new(LogQueue::default());
    assert_eq!(queue.level(), "info");
    capture(&queue, || {
        tracing::debug!(target: LIB, "hidden at info");
        tracing::info!(target: LIB, "shown at info");
        queue.set_level("DEBUG").unwrap();
        tracing::debug!(target: LIB, "shown at debug");
        tracing::trace!(target: LIB, "hidden at debug");
        queue.set_level("off").unwrap();
        tracing::error!(target: LIB, "hidden when off");
        queue.set_level("error").unwrap();
        tracing::warn!(target: LIB, "hidden at error");
        tracing::error!(target: LIB, "shown at error");
    });
    let messages: Vec<Value> = std::iter::from_fn(|| queue.next(Duration::ZERO))
        .map(|r| serde_json::from_str::<Value>(&r).unwrap()["message"].clone())
        .collect();
    assert_eq!(
        messages,
        ["shown at info", "shown at debug", "shown at error"]
    );
    assert!(queue.set_level("loud").is_err());
    assert_eq!(queue.level(), "error");
}

#[test]
fn full_queue_drops_the_oldest_and_says_how_many() {
    let queue = Arc::new(LogQueue::with_limits(3, usize::MAX));
    capture(&queue, || {
        for i in 0..5 {
            tracing::info!(target: LIB, i, "event");
        }
    });
    assert_eq!(queue.len(), 3);
    assert_eq!(queue.dropped(), 2);
    let first = next_json(&queue);
    assert_eq!(first["fields"]["i"], 2);
    assert_eq!(first["dropped"], 2);
    let second = next_json(&queue);
    assert_eq!(second["fields"]["i"], 3);
    assert!(second.get("dropped").is_none(), "drops are reported once");
}

#[test]
fn queue_is_bounded_in_bytes_too() {
    let queue = Arc::new(LogQueue::with_limits(1000, 4096));
    capture(&queue, || {
        for _ in 0..100 {
            tracing::info!(target: LIB, blob = "x".repeat(1000).as_str(), "big");
        }
    });
    assert!(queue.len() <= 4, "{} records kept", queue.len());
    assert_eq!(queue.dropped() as usize + queue.len(), 100);
}

#[test]
fn long_values_are_cut() {
    let queue = Arc::new(LogQueue::default());
    capture(&queue, || {
        tracing::info!(target: LIB, logs = "é".repeat(MAX_VALUE_BYTES).as_str(), "build log");
    });
    let record = next_json(&queue);
    let logs = record["fields"]["logs"].as_str().unwrap();
    assert!(
        logs.len() < MAX_VALUE_BYTES + 32,
        "{} bytes kept",
        logs.len()
    );
    assert!(logs.ends_with("(truncated)"));
}

#[test]
fn empty_queue_times_out_with_nothing() {
    let queue = LogQueue::default();
    assert_eq!(queue.next(Duration::ZERO), None);
    let start = Instant::now();
    assert_eq!(queue.next(Duration::from_millis(30)), None);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(30),
        "returned after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
}

#[test]
fn blocked_reader_gets_a_record_pushed_later() {
    let queue = Arc::new(LogQueue::default());
    let (tx, rx) = mpsc::channel();
    let reader = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || tx.send(queue.next(Duration::from_secs(30))).unwrap())
    };
    capture(&queue, || tracing::info!(target: LIB, "late"));
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reader returned");
    assert!(got.unwrap().contains("\"late\""));
    reader.join().unwrap();
}

#[test]
fn wake_releases_a_blocked_reader_promptly() {
    let queue = Arc::new(LogQueue::default());
    let (tx, rx) = mpsc::channel();
    let reader = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            let start = Instant::now();
            let got = queue.next(Duration::from_secs(60));
            tx.send((got, start.elapsed())).unwrap();
        })
    };
    // Wake until the reader has returned: it may not be blocked yet at the first wake,
    // which the pending-wake rule also covers.
    let mut result = None;
    for _ in 0..100 {
        queue.wake();
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(100)) {
            result = Some(r);
            break;
        }
    }
    let (got, waited) = result.expect("reader woke");
    assert_eq!(got, None);
    assert!(waited < Duration::from_secs(30), "took {waited:?}");
    reader.join().unwrap();
}

#[test]
fn wake_before_a_read_is_not_lost_and_is_used_once() {
    let queue = LogQueue::default();
    queue.wake();
    let start = Instant::now();
    assert_eq!(queue.next(Duration::from_secs(60)), None);
    assert!(start.elapsed() < Duration::from_secs(30));
    // Consumed: the next read waits for its timeout again.
    let start = Instant::now();
    assert_eq!(queue.next(Duration::from_millis(20)), None);
    assert!(start.elapsed() >= Duration::from_millis(20));
}

/// Reads one record through the C ABI; `None` on NOT_FOUND.
fn ffi_next(timeout_ms: u32) -> Option<String> {
    let mut record: *mut c_char = std::ptr::dangling_mut();
    let status = unsafe { vxm_log_next(timeout_ms, &mut record, std::ptr::null_mut()) };
    match status {
        vxm_status::Ok => {
            assert!(!record.is_null());
            let text = unsafe { CStr::from_ptr(record) }
                .to_str()
                .unwrap()
                .to_owned();
            unsafe { vxm_string_free(record) };
            Some(text)
        }
        vxm_status::NotFound => {
            assert!(record.is_null(), "NOT_FOUND sets the record to NULL");
            None
        }
        other => panic!("unexpected status {other:?}"),
    }
}

/// Set in the child that runs `c_abi_child_installs_the_subscriber`.
const CHILD_ENV: &str = "VXM_LOG_CHILD";

/// The process-wide queue and subscriber see every test of this binary that logs, so the
/// test of them runs alone, in a child process of its own.
#[test]
fn c_abi_installs_the_subscriber_and_hands_out_records() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "logging::c_abi_child_installs_the_subscriber",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn c_abi_child_installs_the_subscriber() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only as the child of the test above
    }
    let debug = CString::new("debug").unwrap();
    assert_eq!(
        unsafe { vxm_log_set_level(debug.as_ptr(), std::ptr::null_mut()) },
        vxm_status::Ok
    );
    while ffi_next(0).is_some() {}

    tracing::debug!(target: LIB, key = "k1", "from the library");
    let record: Value = serde_json::from_str(&ffi_next(1000).expect("a record")).unwrap();
    assert_eq!(record["level"], "debug");
    assert_eq!(record["message"], "from the library");
    assert_eq!(record["fields"]["key"], "k1");

    assert_eq!(ffi_next(10), None);
    vxm_log_wake();
    let start = Instant::now();
    assert_eq!(ffi_next(60_000), None);
    assert!(start.elapsed() < Duration::from_secs(30));

    let bad = CString::new("verbose").unwrap();
    assert_eq!(
        unsafe { vxm_log_set_level(bad.as_ptr(), std::ptr::null_mut()) },
        vxm_status::InvalidConfig
    );
    assert_eq!(
        unsafe { vxm_log_set_level(std::ptr::null(), std::ptr::null_mut()) },
        vxm_status::NullArgument
    );
    assert_eq!(
        unsafe { vxm_log_next(0, std::ptr::null_mut(), std::ptr::null_mut()) },
        vxm_status::NullArgument
    );
    let _ = vxm_log_dropped();
}

#[test]
fn records_carry_the_fields_of_enclosing_spans() {
    let queue = Arc::new(LogQueue::default());
    capture(&queue, || {
        let outer = tracing::info_span!(target: LIB, "resolve", key = "k1", attempt = tracing::field::Empty);
        let _outer = outer.enter();
        outer.record("attempt", 1u64);
        let inner = tracing::info_span!(target: LIB, "upstream", attempt = 2u64);
        let _inner = inner.enter();
        tracing::info!(target: LIB, extra = "x", "inside");
    });
    let record = next_json(&queue);
    assert_eq!(record["message"], "inside");
    assert_eq!(record["fields"]["key"], "k1");
    assert_eq!(record["fields"]["attempt"], 2, "the inner span wins");
    assert_eq!(record["fields"]["extra"], "x");
}

#[test]
fn other_crates_are_heard_from_warn_up_unless_tracing() {
    let queue = Arc::new(LogQueue::default());
    capture(&queue, || {
        queue.set_level("debug").unwrap();
        tracing::debug!(target: "h2::codec", "frame");
        tracing::info!(target: "hyper::client", "connected");
        tracing::info!(target: "velox_middlewarex", "not us either");
        tracing::warn!(target: "rustls::conn", "odd certificate");
        tracing::debug!(target: "velox_middleware", "ours");
        tracing::debug!(target: "velox_core::cache", "the engine's");
        tracing::debug!(target: "velox_corex", "not the engine");
        queue.set_level("trace").unwrap();
        tracing::trace!(target: "h2::codec", "frame at trace");
    });
    let messages: Vec<Value> = std::iter::from_fn(|| queue.next(Duration::ZERO))
        .map(|r| serde_json::from_str::<Value>(&r).unwrap()["message"].clone())
        .collect();
    assert_eq!(
        messages,
        ["odd certificate", "ours", "the engine's", "frame at trace"]
    );
}

#[test]
fn the_engine_crate_reports_under_the_library_name() {
    let queue = Arc::new(LogQueue::default());
    capture(&queue, || {
        queue.set_level("info").unwrap();
        tracing::info!(target: "velox_core::cache", "entry corrupt");
        tracing::info!(target: "velox_core", "at the root");
    });
    assert_eq!(next_json(&queue)["target"], "velox_middleware::cache");
    assert_eq!(next_json(&queue)["target"], "velox_middleware");
}
