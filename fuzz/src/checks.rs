//! Properties of the parsers of outside input, checked on arbitrary bytes. A violated
//! property panics (which libFuzzer reports as a crash, and `cargo test` as a failure).
//! Used by the fuzz targets and, by path, by the main crate's `tests/fuzz_properties.rs`.

use serde_json::{json, Map, Value};
use velox_core::config::parse_go_duration;
use velox_core::{BuildRequest, Config};

/// A worker's body: parse + validation + key + the Velox body never panic. An accepted
/// request has the same key with its plugins in any order, and serialised back to the
/// worker format it parses to the same request with the same key.
pub fn request(data: &[u8]) {
    let Ok(req) = BuildRequest::parse(data) else {
        return;
    };
    let key = req.key();
    let _ = req.to_velox_json();

    let body = to_worker_json(&req);
    let again = BuildRequest::parse(body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("accepted request refused after a round trip: {e}\n{body}"));
    assert_eq!(again, req, "round trip changed the request\n{body}");
    assert_eq!(again.key(), key, "round trip changed the key");

    for order in plugin_orders(req.plugins.len()) {
        let mut shuffled = req.clone();
        shuffled.plugins = order.iter().map(|&i| req.plugins[i].clone()).collect();
        let body = to_worker_json(&shuffled);
        let parsed = BuildRequest::parse(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("reordered plugins refused: {e}\n{body}"));
        assert_eq!(parsed.key(), key, "the key depends on plugin order\n{body}");
    }
}

/// The `velox:` section as JSON: never panics, and the same bytes give the same config.
pub fn config(data: &[u8]) {
    let first = Config::from_json(data);
    let second = Config::from_json(data);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "config parsing is not deterministic"),
        (Err(_), Err(_)) => {}
        _ => panic!("config parsing is not deterministic: {first:?} vs {second:?}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if text.len() <= 64 {
            let _ = parse_go_duration(text);
        }
    }
}

/// The request in the worker's (seed plugin's) format, every field it has.
pub fn to_worker_json(req: &BuildRequest) -> Value {
    let mut body = Map::new();
    if let Some(id) = &req.request_id {
        body.insert("request_id".into(), json!(id));
    }
    body.insert("rr_version".into(), json!(req.rr_version));
    body.insert(
        "target_platform".into(),
        json!({"os": req.target_platform.os, "arch": req.target_platform.arch}),
    );
    body.insert(
        "plugins".into(),
        req.plugins
            .iter()
            .map(|p| json!({"module_name": p.module_name, "tag": p.tag}))
            .collect(),
    );
    body.insert("force_rebuild".into(), json!(req.force_rebuild));
    body.insert(
        "replaces".into(),
        req.replaces
            .iter()
            .map(|r| json!({"old": r.old, "new": r.new}))
            .collect(),
    );
    body.insert(
        "excludes".into(),
        req.excludes
            .iter()
            .map(|e| json!({"module": e.module, "version": e.version}))
            .collect(),
    );
    body.insert("race".into(), json!(req.race));
    body.insert("debug".into(), json!(req.debug));
    Value::Object(body)
}

/// A few permutations of `0..n`: reversed, rotated by one, and odd-then-even.
fn plugin_orders(n: usize) -> Vec<Vec<usize>> {
    if n < 2 {
        return Vec::new();
    }
    let reversed: Vec<usize> = (0..n).rev().collect();
    let rotated: Vec<usize> = (1..n).chain(0..1).collect();
    let interleaved: Vec<usize> = (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).step_by(2))
        .collect();
    vec![reversed, rotated, interleaved]
}

/// An executable's bytes: reading the Go build information never panics, and what it
/// reads verifies (or not) against a request without panicking either.
pub fn buildinfo(data: &[u8]) {
    let Ok(info) = velox_core::provenance::read_bytes(data) else {
        return;
    };
    let req = BuildRequest::with_plugins(
        "v2025.1.5",
        "linux",
        "amd64",
        &[("github.com/roadrunner-server/http/v5", "v5.3.0")],
    );
    let _ = velox_core::provenance::verify(&req, &info.go_version, &info.modinfo);
}
