//! `velox-cache inspect KEY` and `verify --provenance` over seed-format entries whose
//! binaries carry Go build information (the test kit's executables): one that answers
//! its request, one of another combination, one that is not a Go executable at all.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use velox_core::provenance;
use velox_testkit::cache_fixture::{http_request as req, seed_entry as entry};
use velox_testkit::go_exe::GoExe;

/// The tool's exit status and output; a usage error fails the test.
fn cli(dir: &Path, args: &[&str]) -> (i32, String) {
    let run = super::cli::cli(dir, args);
    assert!(
        !run.stderr.contains("usage:"),
        "refused as a usage error: {}",
        run.stderr
    );
    (run.code, run.stdout)
}

struct Dir {
    tmp: tempfile::TempDir,
    good: String,
    wrong: String,
    not_go: String,
}

fn directory() -> Dir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let exe = GoExe::for_request(&req("v5.3.0")).to_bytes();
    let good = entry(d, &req("v5.3.0"), &exe, json!({}));
    let wrong = entry(d, &req("v5.3.1"), &exe, json!({}));
    let not_go = entry(d, &req("v5.3.2"), b"#!/bin/sh\nexit 0\n", json!({}));
    Dir {
        tmp,
        good,
        wrong,
        not_go,
    }
}

#[test]
fn verify_provenance_reports_each_entry_and_fails_on_a_mismatch() {
    let d = directory();
    let before = fs::read_dir(d.tmp.path()).unwrap().count();
    let (code, out) = cli(d.tmp.path(), &["verify", "--provenance"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("ok               {}", d.good)),
        "{out}"
    );
    assert!(out.contains("asked v5.3.1, the binary has v5.3.0"), "{out}");
    assert!(out.contains("not_verifiable"), "{out}");

    let (code, out) = cli(d.tmp.path(), &["verify", "--provenance", "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let verdict = |k: &str| {
        v["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == k)
            .unwrap_or_else(|| panic!("{k} not reported: {v}"))
            .clone()
    };
    assert_eq!(verdict(&d.good)["verdict"], "ok");
    assert_eq!(verdict(&d.wrong)["verdict"], "mismatch");
    assert!(verdict(&d.wrong)["detail"]
        .as_str()
        .unwrap()
        .contains("plugin github.com/roadrunner-server/http/v5"));
    assert_eq!(verdict(&d.not_go)["verdict"], "not_verifiable");
    assert_eq!(v["ok"], false);
    // Read only: nothing moved or written.
    assert_eq!(fs::read_dir(d.tmp.path()).unwrap().count(), before);

    // Without the mismatching ones, the directory verifies.
    for k in [&d.wrong, &d.not_go] {
        assert_eq!(cli(d.tmp.path(), &["rm", k]).0, 0);
    }
    let (code, out) = cli(d.tmp.path(), &["verify", "--provenance"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn inspect_prints_recorded_provenance_or_says_there_is_none() {
    let d = directory();
    let (code, out) = cli(d.tmp.path(), &["inspect", &d.good]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("v2025.1.5"), "{out}");
    assert!(
        out.contains("no provenance recorded (written before verification or by the seed plugin)"),
        "{out}"
    );

    // The same binary with what verification records.
    let exe = GoExe::for_request(&req("v5.3.0")).to_bytes();
    let info = provenance::read_bytes(&exe).unwrap();
    let recorded = provenance::verify(&req("v5.3.0"), &info.go_version, &info.modinfo).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let k = entry(
        tmp.path(),
        &req("v5.3.0"),
        &exe,
        json!({ "provenance": recorded }),
    );
    let (code, out) = cli(tmp.path(), &["inspect", &k]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&recorded.go_version), "{out}");
    assert!(out.contains("linux/amd64"), "{out}");
    assert!(
        out.contains("github.com/roadrunner-server/http/v5 v5.3.0"),
        "{out}"
    );
    assert!(!out.contains("no provenance recorded"), "{out}");

    let (code, out) = cli(tmp.path(), &["inspect", &k, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provenance"]["plugins"][0]["version"], "v5.3.0");
    assert_eq!(v["key"], k.as_str());

    let (code, _) = cli(tmp.path(), &["inspect", &"f".repeat(64)]);
    assert_eq!(code, 1);
}
