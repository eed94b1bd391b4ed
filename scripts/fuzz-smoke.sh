#!/usr/bin/env bash
# A bounded libFuzzer run of every target in fuzz/ (make fuzz-smoke).
#
# cargo-fuzz needs nightly only for its sanitizer flags; the coverage instrumentation
# libFuzzer needs (sancov) is a stable codegen option. So this builds the targets on the
# default toolchain with the flags cargo-fuzz would pass, minus AddressSanitizer (the
# code under test is safe Rust: a bug shows as a panic, which libFuzzer catches).
# With cargo-fuzz and nightly installed, `cd fuzz && cargo +nightly fuzz run request`
# runs the same targets with ASan.
#
# FUZZ_SECONDS (default 25) is the time per target. New inputs go to a scratch corpus,
# never into the committed seeds; a crash leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-25}"
TARGETS=(request config buildinfo)

export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --bins --quiet --target "$host"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
    mkdir -p "$scratch/$t" "artifacts/$t"
    echo "fuzz-smoke: $t for ${SECONDS_PER_TARGET}s"
    # -rss_limit_mb: a parser must not need more than that for a 64 KiB input.
    "target/$host/release/$t" "$scratch/$t" "corpus/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=1024 \
        -timeout=10 -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>"$scratch/$t.log" || {
        tail -n 40 "$scratch/$t.log"
        echo "fuzz-smoke: $t FAILED (input in fuzz/artifacts/$t/)"
        exit 1
    }
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$scratch/$t.log" | sed "s/^/fuzz-smoke: $t /"
    grep -E "^Done [0-9]+ runs" "$scratch/$t.log" | sed "s/^/fuzz-smoke: $t /" || true
done
echo "fuzz-smoke: ${#TARGETS[@]} passed, 0 failed"
