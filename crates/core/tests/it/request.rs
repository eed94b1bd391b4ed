//! Build requests: parsing, validation (each error names its field), keys and the body
//! sent to Velox.

use serde_json::{json, Value};
use velox_core::{BuildRequest, Error};

fn parse(v: &Value) -> Result<BuildRequest, Error> {
    BuildRequest::parse(v.to_string().as_bytes())
}

fn key_of(v: &Value) -> String {
    parse(v)
        .unwrap_or_else(|e| panic!("{v} should parse: {e}"))
        .key()
        .as_str()
        .to_owned()
}

fn base() -> Value {
    json!({
        "rr_version": "v2025.1.15",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}]
    })
}

fn with(mut v: Value, field: &str, value: Value) -> Value {
    v[field] = value;
    v
}

fn vectors() -> Vec<Value> {
    let path = velox_testkit::repo_root().join("tests/fixtures/seed-key-vectors.json");
    let text = std::fs::read_to_string(path).expect("fixture");
    let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
    doc["vectors"].as_array().expect("vectors").clone()
}

#[test]
fn every_seed_vector_gets_the_seed_plugins_key() {
    let vectors = vectors();
    assert!(vectors.len() >= 5, "fixture lost its vectors");
    for v in vectors {
        assert_eq!(
            key_of(&v["request"]),
            v["key"].as_str().unwrap(),
            "{}",
            v["canonical"]
        );
    }
}

#[test]
fn plugin_order_does_not_change_the_key() {
    for v in vectors() {
        let mut request = v["request"].clone();
        let expected = key_of(&request);
        request["plugins"].as_array_mut().unwrap().reverse();
        assert_eq!(key_of(&request), expected);
        request["plugins"].as_array_mut().unwrap().rotate_left(1);
        assert_eq!(key_of(&request), expected);
    }
}

#[test]
fn request_id_and_force_rebuild_do_not_change_the_key() {
    let plain = key_of(&base());
    let mut v = base();
    v["request_id"] = json!("0b9c5a5e-3f8e-4a55-9d65-0c8f3a1b2c3d");
    v["force_rebuild"] = json!(true);
    v["replaces"] = json!([]);
    v["excludes"] = json!(null);
    v["race"] = json!(false);
    v["debug"] = json!(false);
    assert_eq!(key_of(&v), plain);
}

// Extended keys, computed outside the code under test at authoring time with:
//   printf 'v2025.1.15|linux|amd64|github.com/roadrunner-server/http/v5@v5.3.0\nvxm-key-ext/1\nrace' | sha256sum
//   printf 'v2025.1.15|linux|amd64|github.com/roadrunner-server/http/v5@v5.3.0\nvxm-key-ext/1\ndebug' | sha256sum
//   printf 'v2025.1.15|linux|amd64|github.com/roadrunner-server/http/v5@v5.3.0\nvxm-key-ext/1\nrace\ndebug\nreplace github.com/a/b@v1.0.0 ./local/b\nreplace github.com/z/y github.com/z/y@v2.0.0\nexclude github.com/c/d v1.2.3\nexclude github.com/c/d v1.2.4' | sha256sum
//   printf 'v2025.1.15|linux|amd64|github.com/roadrunner-server/http/v5@v5.3.0' | sha256sum
const BASE_KEY: &str = "d9c87b6d7969ceb0a3942ab5b73f484c52f2c6faad4cdd2b738546e9cf3262c3";
const RACE_KEY: &str = "ee6d8576bf0c5314e66c47e2822c81b4ad8b500aa117de12db11b1afcd1ff81b";
const DEBUG_KEY: &str = "8355b64ac2b3baa92ff3e324a9a4223379e39b5cd8caa6589680dec570df390e";
const FULL_KEY: &str = "92365a4b01396eed334c30e3d5a729f5d04e54d81b5447c4f1eff38a99495e71";

fn full() -> Value {
    let mut v = base();
    v["race"] = json!(true);
    v["debug"] = json!(true);
    v["replaces"] = json!([
        {"old": "github.com/z/y", "new": "github.com/z/y@v2.0.0"},
        {"old": "github.com/a/b@v1.0.0", "new": "./local/b"}
    ]);
    v["excludes"] = json!([
        {"module": "github.com/c/d", "version": "v1.2.4"},
        {"module": "github.com/c/d", "version": "v1.2.3"}
    ]);
    v
}

#[test]
fn extended_requests_get_the_independently_computed_keys() {
    assert_eq!(key_of(&base()), BASE_KEY);
    assert_eq!(key_of(&with(base(), "race", json!(true))), RACE_KEY);
    assert_eq!(key_of(&with(base(), "debug", json!(true))), DEBUG_KEY);
    assert_eq!(key_of(&full()), FULL_KEY);
}

#[test]
fn extended_key_ignores_the_order_of_replaces_and_excludes() {
    let mut v = full();
    v["replaces"].as_array_mut().unwrap().reverse();
    v["excludes"].as_array_mut().unwrap().reverse();
    assert_eq!(key_of(&v), FULL_KEY);
}

#[test]
fn every_build_changing_field_gives_a_distinct_key() {
    let variants = [
        base(),
        with(base(), "race", json!(true)),
        with(base(), "debug", json!(true)),
        with(
            base(),
            "replaces",
            json!([{"old": "github.com/a/b", "new": "github.com/a/b@v1.0.0"}]),
        ),
        with(
            base(),
            "replaces",
            json!([{"old": "github.com/a/b", "new": "github.com/a/b@v1.0.1"}]),
        ),
        with(
            base(),
            "replaces",
            json!([{"old": "github.com/a/b@v1.0.0", "new": "./b"}]),
        ),
        with(
            base(),
            "excludes",
            json!([{"module": "github.com/a/b", "version": "v1.0.0"}]),
        ),
        with(
            base(),
            "excludes",
            json!([{"module": "github.com/a/b", "version": "v1.0.1"}]),
        ),
        full(),
    ];
    let keys: Vec<String> = variants.iter().map(key_of).collect();
    for (i, a) in keys.iter().enumerate() {
        for (j, b) in keys.iter().enumerate().skip(i + 1) {
            assert_ne!(a, b, "variants {i} and {j} share a key");
        }
    }
}

#[test]
fn accepts_every_documented_form() {
    let ok = [
        with(base(), "rr_version", json!("master")),
        with(base(), "rr_version", json!("0123abc")),
        with(base(), "rr_version", json!("v2025.1.15-rc.1+build.5")),
        with(base(), "request_id", json!("")),
        with(
            base(),
            "request_id",
            json!("0B9C5A5E-3F8E-4A55-9D65-0C8F3A1B2C3D"),
        ),
        with(
            base(),
            "target_platform",
            json!({"os": "wasip1", "arch": "wasm"}),
        ),
        with(
            base(),
            "target_platform",
            json!({"os": "windows", "arch": "arm64"}),
        ),
        with(
            base(),
            "plugins",
            json!([
                {"module_name": "github.com/temporalio/roadrunner-temporal/v5", "tag": "v5.0.0-rc.1"},
                {"module_name": "gopkg.in/yaml.v3", "tag": "latest"},
                {"module_name": "example.com/Some_Org/x~y", "tag": "0123456789abcdef0123456789abcdef01234567"},
                {"module_name": "example.com/p", "tag": "v0.0.0-20240101120000-abcdef123456"}
            ]),
        ),
        with(
            base(),
            "replaces",
            json!([{"old": "github.com/a/b", "new": "/srv/src/b"}, {"old": "github.com/c/d", "new": "../d"}]),
        ),
    ];
    for v in ok {
        parse(&v).unwrap_or_else(|e| panic!("{v} should parse: {e}"));
    }
}

#[test]
fn each_bad_request_names_its_field() {
    let plugin = |m: &str, t: &str| json!([{"module_name": m, "tag": t}]);
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"module_name": format!("example.com/m{i}"), "tag": "v1.0.0"}))
        .collect();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "body"),
        (b"[1,2]".to_vec(), "body"),
        (b"\"x\"".to_vec(), "body"),
        (vec![b' '; 1024 * 1024 + 1], "body"),
        (b"{} {}".to_vec(), "body"),
        (
            br#"{"rr_version":"v1.0.0","rr_version":"v1.0.1"}"#.to_vec(),
            "rr_version",
        ),
        (
            br#"{"plugins":[{"module_name":"example.com/a","tag":"v1.0.0","tag":"v2.0.0"}]}"#
                .to_vec(),
            "plugins[0].tag",
        ),
        (
            br#"{"target_platform":{"os":"linux","os":"darwin"}}"#.to_vec(),
            "target_platform.os",
        ),
    ];
    let table: Vec<(Value, &str)> = vec![
        (with(base(), "colour", json!("red")), "colour"),
        (with(base(), "rr_version", json!("2025.1.15")), "rr_version"),
        (with(base(), "rr_version", json!("v2025.1")), "rr_version"),
        (
            with(base(), "rr_version", json!("v2025.1.15|x")),
            "rr_version",
        ),
        (
            with(base(), "rr_version", json!("v2025.1.15 ")),
            "rr_version",
        ),
        (with(base(), "rr_version", json!("main")), "rr_version"),
        (with(base(), "rr_version", json!("0123ab")), "rr_version"),
        (with(base(), "rr_version", json!("0123ABCD")), "rr_version"),
        (with(base(), "rr_version", json!(2025)), "rr_version"),
        (with(base(), "rr_version", json!(null)), "rr_version"),
        (with(base(), "request_id", json!("abc")), "request_id"),
        (with(base(), "request_id", json!(7)), "request_id"),
        (with(base(), "force_rebuild", json!("yes")), "force_rebuild"),
        (with(base(), "race", json!(1)), "race"),
        (with(base(), "debug", json!("true")), "debug"),
        (
            with(base(), "target_platform", json!("linux/amd64")),
            "target_platform",
        ),
        (
            with(base(), "target_platform", json!({"os": "linux"})),
            "target_platform.arch",
        ),
        (
            with(
                base(),
                "target_platform",
                json!({"os": "Linux", "arch": "amd64"}),
            ),
            "target_platform.os",
        ),
        (
            with(
                base(),
                "target_platform",
                json!({"os": "linux", "arch": "x86_64"}),
            ),
            "target_platform.arch",
        ),
        (
            with(
                base(),
                "target_platform",
                json!({"os": "darwin", "arch": "386"}),
            ),
            "target_platform.arch",
        ),
        (
            with(
                base(),
                "target_platform",
                json!({"os": "linux", "arch": "amd64", "arm": "7"}),
            ),
            "target_platform.arm",
        ),
        (with(base(), "plugins", json!([])), "plugins"),
        (with(base(), "plugins", json!({})), "plugins"),
        (with(base(), "plugins", Value::Array(too_many)), "plugins"),
        (with(base(), "plugins", json!(["x"])), "plugins[0]"),
        (
            with(base(), "plugins", json!([{"tag": "v1.0.0"}])),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", json!([{"module_name": "example.com/a"}])),
            "plugins[0].tag",
        ),
        (
            with(
                base(),
                "plugins",
                json!([{"module_name": "example.com/a", "tag": "v1.0.0", "x": 1}]),
            ),
            "plugins[0].x",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b@v1", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a|b", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("localmodule/x", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("GitHub.com/a/b", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("-x.com/a", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("/github.com/a", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com//a", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/../a", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a./b", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a b", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a\u{7}", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/é", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/con", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b/v1", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b/v01", "v1.0.0")),
            "plugins[0].module_name",
        ),
        (
            with(
                base(),
                "plugins",
                plugin(&format!("github.com/{}", "a".repeat(250)), "v1.0.0"),
            ),
            "plugins[0].module_name",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "1.0.0")),
            "plugins[0].tag",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "v1.0.0@x")),
            "plugins[0].tag",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "v1.0.0|x")),
            "plugins[0].tag",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "v1.0.0-")),
            "plugins[0].tag",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "master")),
            "plugins[0].tag",
        ),
        (
            with(base(), "plugins", plugin("github.com/a/b", "")),
            "plugins[0].tag",
        ),
        (
            with(
                base(),
                "plugins",
                json!([
                    {"module_name": "github.com/a/b", "tag": "v1.0.0"},
                    {"module_name": "github.com/c/d", "tag": "v1.0.0"},
                    {"module_name": "github.com/a/b", "tag": "v1.0.1"}
                ]),
            ),
            "plugins[2].module_name",
        ),
        (with(base(), "replaces", json!({})), "replaces"),
        (
            with(base(), "replaces", json!([{"old": "github.com/a/b"}])),
            "replaces[0].new",
        ),
        (
            with(base(), "replaces", json!([{"new": "./b"}])),
            "replaces[0].old",
        ),
        (
            with(
                base(),
                "replaces",
                json!([{"old": "github.com/a/b", "new": "./b", "x": 1}]),
            ),
            "replaces[0].x",
        ),
        (
            with(
                base(),
                "replaces",
                json!([{"old": "github.com/a/b", "new": "./b@v1.0.0"}]),
            ),
            "replaces[0].new",
        ),
        (
            with(
                base(),
                "replaces",
                json!([{"old": "github.com/a/b", "new": "b"}]),
            ),
            "replaces[0].new",
        ),
        (
            with(
                base(),
                "replaces",
                json!([{"old": "github.com/a/b", "new": "./my b"}]),
            ),
            "replaces[0].new",
        ),
        (
            with(
                base(),
                "replaces",
                json!([{"old": "github.com/a/b@latest", "new": "./b"}]),
            ),
            "replaces[0].old",
        ),
        (
            with(
                base(),
                "replaces",
                json!([
                    {"old": "github.com/a/b", "new": "./b"},
                    {"old": "github.com/a/b", "new": "./c"}
                ]),
            ),
            "replaces[1].old",
        ),
        (
            with(base(), "excludes", json!([{"module": "github.com/a/b"}])),
            "excludes[0].version",
        ),
        (
            with(
                base(),
                "excludes",
                json!([{"module": "github.com/a/b", "version": "latest"}]),
            ),
            "excludes[0].version",
        ),
        (
            with(
                base(),
                "excludes",
                json!([{"module": "nodot/b", "version": "v1.0.0"}]),
            ),
            "excludes[0].module",
        ),
        (
            with(
                base(),
                "excludes",
                json!([
                    {"module": "github.com/a/b", "version": "v1.0.0"},
                    {"module": "github.com/a/b", "version": "v1.0.0"}
                ]),
            ),
            "excludes[1]",
        ),
    ];
    let all = cases.into_iter().chain(
        table
            .into_iter()
            .map(|(v, f)| (v.to_string().into_bytes(), f)),
    );
    for (body, field) in all {
        match BuildRequest::parse(&body) {
            Err(Error::InvalidRequest { field: got, reason }) => assert_eq!(
                got,
                field,
                "body {} failed for {reason}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
            other => panic!(
                "body {} should fail on {field}, got {other:?}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        }
    }
}

#[test]
fn velox_body_uses_proto3_json_names() {
    let mut v = full();
    v["request_id"] = json!("0b9c5a5e-3f8e-4a55-9d65-0c8f3a1b2c3d");
    v["force_rebuild"] = json!(true);
    let body = parse(&v).unwrap().to_velox_json();
    assert_eq!(
        body,
        json!({
            "requestId": "0b9c5a5e-3f8e-4a55-9d65-0c8f3a1b2c3d",
            "rrVersion": "v2025.1.15",
            "forceRebuild": true,
            "targetPlatform": {"os": "linux", "arch": "amd64"},
            "plugins": [{"moduleName": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}],
            "replaces": [
                {"old": "github.com/z/y", "new": "github.com/z/y@v2.0.0"},
                {"old": "github.com/a/b@v1.0.0", "new": "./local/b"}
            ],
            "excludes": [
                {"module": "github.com/c/d", "version": "v1.2.4"},
                {"module": "github.com/c/d", "version": "v1.2.3"}
            ],
            "race": true,
            "debug": true
        })
    );
}

#[test]
fn velox_body_of_a_seed_request_has_only_the_seed_fields() {
    let body = parse(&base()).unwrap().to_velox_json();
    let mut names: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["plugins", "rrVersion", "targetPlatform"]);
}

mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::{json, Value};
    use velox_core::BuildRequest;

    type Identity = (
        String,
        String,
        String,
        Vec<(String, String)>,
        bool,
        bool,
        Vec<(String, String)>,
        Vec<(String, String)>,
    );

    /// Requests drawn from small alphabets (with look-alike module names and separator-ish
    /// neighbours) so that equal and nearly-equal builds come up often.
    fn request() -> impl Strategy<Value = Value> {
        let modules = [
            "example.com/a",
            "example.com/a/b",
            "example.com/ab",
            "example.com/a.b",
        ];
        let tags = ["v1.0.0", "v1.0.1", "latest", "abcdef0", "v1.0.0-a"];
        (
            select(vec!["v1.0.0", "v1.0.0-a", "master", "abcdef0"]),
            select(vec![
                ("linux", "amd64"),
                ("linux", "arm64"),
                ("darwin", "arm64"),
            ]),
            proptest::collection::btree_map(select(modules.to_vec()), select(tags.to_vec()), 1..4),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::btree_map(
                select(vec![
                    "example.com/a",
                    "example.com/a@v1.0.0",
                    "example.com/b",
                ]),
                select(vec![
                    "./x",
                    "../x",
                    "example.com/c@v1.0.0",
                    "example.com/c@latest",
                ]),
                0..3,
            ),
            proptest::collection::btree_set(
                (select(modules.to_vec()), select(vec!["v1.0.0", "v1.0.1"])),
                0..3,
            ),
            any::<bool>(),
        )
            .prop_map(
                |(rr, (os, arch), plugins, race, debug, replaces, excludes, reverse)| {
                    let mut plugins: Vec<Value> = plugins
                        .into_iter()
                        .map(|(m, t)| json!({"module_name": m, "tag": t}))
                        .collect();
                    let mut replaces: Vec<Value> = replaces
                        .into_iter()
                        .map(|(o, n)| json!({"old": o, "new": n}))
                        .collect();
                    let mut excludes: Vec<Value> = excludes
                        .into_iter()
                        .map(|(m, v)| json!({"module": m, "version": v}))
                        .collect();
                    if reverse {
                        plugins.reverse();
                        replaces.reverse();
                        excludes.reverse();
                    }
                    json!({
                        "rr_version": rr,
                        "target_platform": {"os": os, "arch": arch},
                        "plugins": plugins,
                        "race": race,
                        "debug": debug,
                        "replaces": replaces,
                        "excludes": excludes,
                    })
                },
            )
    }

    /// What the build depends on, order removed: equal identities are the same build.
    fn identity(r: &BuildRequest) -> Identity {
        let sorted = |mut v: Vec<(String, String)>| {
            v.sort();
            v
        };
        (
            r.rr_version.clone(),
            r.target_platform.os.clone(),
            r.target_platform.arch.clone(),
            sorted(
                r.plugins
                    .iter()
                    .map(|p| (p.module_name.clone(), p.tag.clone()))
                    .collect(),
            ),
            r.race,
            r.debug,
            sorted(
                r.replaces
                    .iter()
                    .map(|x| (x.old.clone(), x.new.clone()))
                    .collect(),
            ),
            sorted(
                r.excludes
                    .iter()
                    .map(|x| (x.module.clone(), x.version.clone()))
                    .collect(),
            ),
        )
    }

    /// `a` changed in one small way (or only reordered), so that equal and nearly-equal
    /// builds are both common.
    fn mutate(mut v: Value, how: usize, pick: usize) -> Value {
        let tags = ["v1.0.0", "v1.0.1", "latest", "abcdef0", "v1.0.0-a"];
        match how {
            0 => {
                for list in ["plugins", "replaces", "excludes"] {
                    v[list].as_array_mut().unwrap().reverse();
                }
            }
            1 => v["race"] = json!(!v["race"].as_bool().unwrap()),
            2 => v["debug"] = json!(!v["debug"].as_bool().unwrap()),
            3 => {
                let plugins = v["plugins"].as_array_mut().unwrap();
                let n = plugins.len();
                plugins[pick % n]["tag"] = json!(tags[pick % tags.len()]);
            }
            4 => {
                // Swap two plugins' tags: same strings, different build (unless equal).
                let plugins = v["plugins"].as_array_mut().unwrap();
                if plugins.len() > 1 {
                    let t0 = plugins[0]["tag"].clone();
                    plugins[0]["tag"] = plugins[1]["tag"].clone();
                    plugins[1]["tag"] = t0;
                }
            }
            5 => {
                let excludes = v["excludes"].as_array_mut().unwrap();
                if excludes.is_empty() {
                    excludes.push(json!({"module": "example.com/a", "version": "v1.0.0"}));
                } else {
                    excludes.remove(pick % excludes.len());
                }
            }
            6 => {
                let replaces = v["replaces"].as_array_mut().unwrap();
                if replaces.is_empty() {
                    replaces.push(json!({"old": "example.com/b", "new": "./x"}));
                } else {
                    let n = replaces.len();
                    replaces[pick % n]["new"] = json!(["./x", "../x"][pick % 2]);
                }
            }
            _ => v["rr_version"] = json!(["v1.0.0", "master"][pick % 2]),
        }
        v
    }

    proptest! {
        #[test]
        fn same_key_exactly_when_same_build(
            a in request(),
            other in request(),
            how in 0usize..10,
            pick in any::<usize>(),
        ) {
            // how 0..=7 mutates a; 8 and 9 compare with an unrelated request.
            let b = if how < 8 { mutate(a.clone(), how, pick) } else { other };
            let a = BuildRequest::parse(a.to_string().as_bytes()).unwrap();
            let b = BuildRequest::parse(b.to_string().as_bytes()).unwrap();
            prop_assert_eq!(a.key() == b.key(), identity(&a) == identity(&b));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = BuildRequest::parse(&body);
        }

        #[test]
        fn arbitrary_field_values_are_refused_or_keyed(
            field in select(vec!["rr_version", "os", "arch", "module_name", "tag", "old", "new"]),
            value in "\\PC{0,40}|[a-z0-9./@|~_+-]{0,40}",
        ) {
            let mut v = json!({
                "rr_version": "v1.0.0",
                "target_platform": {"os": "linux", "arch": "amd64"},
                "plugins": [{"module_name": "example.com/a", "tag": "v1.0.0"}],
                "replaces": [{"old": "example.com/a", "new": "./a"}],
            });
            match field {
                "os" | "arch" => v["target_platform"][field] = json!(value),
                "module_name" | "tag" => v["plugins"][0][field] = json!(value),
                "old" | "new" => v["replaces"][0][field] = json!(value),
                _ => v[field] = json!(value),
            }
            if let Ok(r) = BuildRequest::parse(v.to_string().as_bytes()) {
                // Whatever got through holds no separator in a place it could shift.
                for s in [&r.rr_version, &r.target_platform.os, &r.target_platform.arch] {
                    prop_assert!(!s.contains(['|', '@', '\n', ' ']));
                }
                prop_assert!(!r.plugins[0].module_name.contains(['|', '@', ' ']));
                prop_assert!(!r.plugins[0].tag.contains(['|', '@', ' ']));
                prop_assert_eq!(r.key().as_str().len(), 64);
            }
        }
    }

    #[test]
    fn mutations_cover_both_outcomes() {
        // Guards the property above against mutations that never (or always) change the build.
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let strategy = request();
        let mut seen: BTreeMap<bool, u32> = BTreeMap::new();
        for i in 0..400 {
            let a = strategy.new_tree(&mut runner).unwrap().current();
            let b = mutate(a.clone(), i % 8, i / 8);
            let a = BuildRequest::parse(a.to_string().as_bytes()).unwrap();
            let b = BuildRequest::parse(b.to_string().as_bytes()).unwrap();
            *seen.entry(a.key() == b.key()).or_default() += 1;
        }
        assert!(seen.get(&true).copied().unwrap_or(0) > 50, "{seen:?}");
        assert!(seen.get(&false).copied().unwrap_or(0) > 50, "{seen:?}");
    }
}
