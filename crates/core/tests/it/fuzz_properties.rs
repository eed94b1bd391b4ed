//! The fuzz targets' properties (fuzz/src/checks.rs) on the stable toolchain, so that
//! `cargo test` checks them on every run: the committed seed corpus, byte-level mutations
//! of it, and generated requests that are mostly valid (random plugin lists, directives,
//! separators and odd characters where they must be refused). libFuzzer explores far more
//! (`make fuzz-smoke`); this keeps the properties from rotting between fuzz runs.

#[path = "../../../../fuzz/src/checks.rs"]
mod checks;

use proptest::prelude::*;
use serde_json::{json, Value};
use velox_core::BuildRequest;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = velox_testkit::repo_root().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "seed corpus of {target} is too small");
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn request_seed_corpus_holds_the_properties() {
    let mut accepted = 0;
    for input in corpus("request") {
        checks::request(&input);
        accepted += usize::from(BuildRequest::parse(&input).is_ok());
    }
    // The corpus must reach the round-trip and ordering checks, not only the refusals.
    assert!(accepted >= 5, "only {accepted} seed requests are valid");
}

#[test]
fn buildinfo_seed_corpus_holds_the_properties() {
    let mut read = 0;
    for input in corpus("buildinfo") {
        checks::buildinfo(&input);
        read += usize::from(velox_core::provenance::read_bytes(&input).is_ok());
    }
    // The corpus must reach the module list and the rules, not only the refusals.
    assert!(read >= 3, "only {read} seed executables are read");
}

#[test]
fn config_seed_corpus_holds_the_properties() {
    for input in corpus("config") {
        checks::config(&input);
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9]{1,8}",
        1 => "[ -~]{0,6}",
        1 => Just("a|b".to_owned()),
        1 => Just("a@b".to_owned()),
        1 => Just(String::new()),
        1 => Just("é".to_owned()),
    ]
}

fn module() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => ("[a-z]{1,6}", "[a-z]{1,6}").prop_map(|(a, b)| format!("github.com/{a}/{b}")),
        1 => token(),
    ]
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => (0..3u32, 0..20u32, 0..20u32).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        1 => token(),
    ]
}

fn request_value() -> impl Strategy<Value = Value> {
    let plugin = (module(), version()).prop_map(|(m, t)| json!({"module_name": m, "tag": t}));
    let replace = (module(), prop_oneof![version(), Just("./x".to_owned())])
        .prop_map(|(o, n)| json!({"old": o, "new": format!("{o}@{n}")}));
    let exclude = (module(), version()).prop_map(|(m, v)| json!({"module": m, "version": v}));
    (
        prop_oneof![4 => Just("linux"), 4 => Just("darwin"), 4 => Just("windows"), 1 => Just("plan9x")],
        prop_oneof![4 => Just("amd64"), 4 => Just("arm64"), 1 => Just("386"), 1 => Just("mips")],
        prop::collection::vec(plugin, 0..6),
        prop::collection::vec(replace, 0..3),
        prop::collection::vec(exclude, 0..3),
        any::<(bool, bool, bool)>(),
        version(),
    )
        .prop_map(|(os, arch, plugins, replaces, excludes, (race, debug, force), v)| {
            json!({
                "rr_version": v,
                "target_platform": {"os": os, "arch": arch},
                "plugins": plugins,
                "replaces": replaces,
                "excludes": excludes,
                "race": race,
                "debug": debug,
                "force_rebuild": force,
            })
        })
}

/// Bytes to overwrite: where (an index into whatever input they meet) and with what.
type Edits = Vec<(prop::sample::Index, u8)>;

fn edits() -> impl Strategy<Value = Edits> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
}

/// The seed of `target` that `pick` names, with `edits` applied.
fn mutated_seed(target: &str, pick: prop::sample::Index, edits: Edits) -> Vec<u8> {
    let seeds = corpus(target);
    let mut input = seeds[pick.index(seeds.len())].clone();
    for (at, byte) in edits {
        if input.is_empty() {
            break;
        }
        let i = at.index(input.len());
        input[i] = byte;
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_requests_hold_the_properties(v in request_value()) {
        checks::request(v.to_string().as_bytes());
    }

    #[test]
    fn mutated_seed_requests_hold_the_properties(
        pick in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        checks::request(&mutated_seed("request", pick, edits));
    }

    #[test]
    fn mutated_seed_configs_hold_the_properties(
        pick in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        checks::config(&mutated_seed("config", pick, edits));
    }

    #[test]
    fn mutated_seed_executables_hold_the_properties(
        pick in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        checks::buildinfo(&mutated_seed("buildinfo", pick, edits));
    }
}
