# Every entry point of the project. `make help` lists them.
# The Rust library is built once (release) and shared by the C test, the Go shim,
# the RoadRunner binaries and the benchmarks.

SHELL        := /bin/bash
CARGO        ?= cargo
GO           ?= go
CC           ?= cc
PROFILE      ?= release
LIB_DIR      := $(CURDIR)/target/$(PROFILE)
STATIC_LIB   := $(LIB_DIR)/libvelox_middleware.a
SHARED_LIB   := $(LIB_DIR)/libvelox_middleware.so
BUILD        := $(CURDIR)/build
CARGO_FLAGS  := $(if $(filter release,$(PROFILE)),--release,)
# Clippy and the Rust tests run in the library's profile by default: one graph of
# dependencies for the library and the tests instead of a release one and a dev one.
# Incremental compilation (the workspace's crates only; dependencies never are) keeps an
# edit from rebuilding the optimised test binaries from scratch; the library itself
# (`make lib`) stays a plain release build. TEST_PROFILE=debug is the dev build, as a bare
# `cargo test` is. docs/decisions/2026-11-29-workspace.md has the numbers.
TEST_PROFILE ?= release
TEST_CARGO   := CARGO_INCREMENTAL=1 $(CARGO)
TEST_FLAGS   := $(if $(filter release,$(TEST_PROFILE)),--release,)

export VELOX_MIDDLEWARE_LIB := $(SHARED_LIB)

.PHONY: help deps lib header header-check fmt fmt-check lint test rust-test c-test go-test php-test demo-js-test \
        php-ffi-test rr rr-purego e2e e2e-s3 bench-s3 bench bench-quick bench-bins demo demo-addr clean fuzz-smoke reliability dist

help:
	@echo "make demo        build RoadRunner with the plugin and run the demo on 127.0.0.1:8080"
	@echo "make test        all tests: Rust, C host, Go shim (cgo and purego), header check, demo worker, PHP FFI"
	@echo "make e2e         end to end: real RoadRunner, real PHP worker, fake Velox server"
	@echo "make e2e-s3      the shared remote tier against a real S3 server (SeaweedFS, built once)"
	@echo "make bench       benchmarks (about 15 min; SEED_SRC=checkout adds the original plugin), writes BENCHMARKS.md and bench/benchmarks.png"
	@echo "make bench-quick the same with fewer points and shorter runs (a couple of minutes)"
	@echo "make fuzz-smoke  a bounded libFuzzer run of every fuzz target (FUZZ_SECONDS per target)"
	@echo "make reliability crash consistency, cache model, fuzz properties, faults and a 3 min soak"
	@echo "make lib         build the static and shared library ($(PROFILE))"
	@echo "make dist        dist/velox-middleware-<version>-<os>-<arch>.tar.gz (library, header, OPERATORS.md)"
	@echo "make header      regenerate include/velox_middleware.h"
	@echo "make fmt lint    format and lint Rust, C and Go"

deps:
	@scripts/install-deps.sh

lib: $(STATIC_LIB)

# Only the library's own sources: velox-middleware (the root package) and velox-core.
LIB_SOURCES := Cargo.toml Cargo.lock build.rs cbindgen.toml crates/core/Cargo.toml \
               $(shell find src crates/core/src -name '*.rs')

$(STATIC_LIB) $(SHARED_LIB): $(LIB_SOURCES)
	$(CARGO) build $(CARGO_FLAGS) -p velox-middleware --lib

header:
	VXM_WRITE_HEADER=1 $(CARGO) build -p velox-middleware --lib

readme:
	VXM_WRITE_README=1 $(CARGO) test -p velox-core --test it docs::readme_key_table_is_current

header-check:
	$(CARGO) test -p velox-middleware --test it header::

fmt:
	$(CARGO) fmt --all
	cd go-shim && gofmt -w .
	cd e2e && gofmt -w .
	cd bench && gofmt -w .

fmt-check:
	$(CARGO) fmt --all -- --check
	@test -z "$$(gofmt -l go-shim e2e bench)" || { gofmt -l go-shim e2e bench; echo "gofmt needed"; exit 1; }

lint: fmt-check
	$(TEST_CARGO) clippy --workspace --all-targets $(TEST_FLAGS) -- -D warnings
	cd go-shim && CGO_ENABLED=1 $(GO) vet -tags velox_cgo ./... ./tests/...
	cd go-shim && CGO_ENABLED=0 $(GO) vet ./... ./tests/...

# lib first: tests/it/c_programs.rs links the C programs to $(SHARED_LIB).
rust-test: lib
	$(TEST_CARGO) test --workspace $(TEST_FLAGS)

# The C programs in tests/c/, compiled and run by a Rust test (the resolve test against the
# Rust fake Velox) on $(SHARED_LIB), which VELOX_MIDDLEWARE_LIB names. rust-test runs them
# too, so `make test` does not repeat them; this target runs them alone. Same flags and
# --workspace as rust-test: the test binary is rust-test's, not a second build.
c-test: lib
	$(TEST_CARGO) test --workspace $(TEST_FLAGS) --test it -- c_programs::

# Both backends: cgo (opt-in, -tags velox_cgo) links $(STATIC_LIB); purego, the default, loads
# $(SHARED_LIB). The purego pass also cross-compiles for RoadRunner's platforms and builds
# a copy of go-shim alone (portability_test.go). ./tests/... is the fake Velox's own module,
# reached through go-shim/go.work.
go-test: lib
	cd go-shim && CGO_ENABLED=1 $(GO) test -tags velox_cgo -count=1 -timeout 300s ./... ./tests/...
	cd go-shim && CGO_ENABLED=0 VELOX_MIDDLEWARE_LIB=$(SHARED_LIB) $(GO) test -count=1 -timeout 300s ./... ./tests/...

# The demo worker's query parser and responses (plain php-cli, no Composer).
php-test:
	@command -v php >/dev/null || { echo "php-test needs php-cli (make deps)"; exit 1; }
	php demo/tests/worker_test.php

# The demo page's reader of Go build information (demo/lib/buildinfo.js) on real Go
# executables, with node's test runner.
demo-js-test:
	@command -v node >/dev/null || { echo "demo-js-test needs node"; exit 1; }
	node --test demo/tests/

# The C library from PHP through FFI (examples/php-ffi): the "cached / building / absent"
# query against a directory in each state.
php-ffi-test: lib
	@command -v php >/dev/null || { echo "php-ffi-test needs php-cli (make deps)"; exit 1; }
	php examples/php-ffi/tests/cache_state_test.php

test: deps lint rust-test go-test php-test demo-js-test php-ffi-test

# RoadRunner with the plugin (e2e/cmd/rr, our own main on endure). Go's build cache makes
# these cheap after the first build.
E2E_TIMEOUT ?= 15m

# Go's build ID covers the Go sources and the cgo flags, not the static library they name:
# with build/rr in place and only the library changed, `go build` keeps the stale binary.
# Removing it first makes Go link again (seconds; the packages stay cached).
rr: lib
	@mkdir -p $(BUILD)
	rm -f $(BUILD)/rr
	cd e2e && CGO_ENABLED=1 $(GO) build -tags velox_cgo -o $(BUILD)/rr ./cmd/rr

# CGO_ENABLED=0: the purego backend loads the shared library, found next to the binary.
rr-purego: lib
	@mkdir -p $(BUILD)
	cd e2e && CGO_ENABLED=0 $(GO) build -o $(BUILD)/rr-purego ./cmd/rr
	cp $(SHARED_LIB) $(BUILD)/

# The demo: build/rr + the demo PHP worker + the embedded local builder, on 127.0.0.1:8080
# (DEMO_ADDR=host:port for another). The address is checked first, before any build.
demo-addr:
	@demo/check-addr.sh

demo: demo-addr deps rr
	demo/run.sh

# The release archive (scripts/dist.sh): libraries, header, docs/OPERATORS.md, an example
# velox.toml, GLIBC_MINIMUM measured from the .so, SHA256SUMS. `make e2e` unpacks it and
# runs build/rr-purego on the .so from inside it (e2e/dist_test.go).
dist: lib
	scripts/dist.sh

e2e: rr rr-purego dist
	@command -v php >/dev/null || { echo "e2e needs php-cli (make deps)"; exit 1; }
	cd e2e && $(GO) vet ./...
	cd e2e && $(GO) test -count=1 -timeout $(E2E_TIMEOUT) -run E2E -v ./...

# The shared remote tier (cache.remote) against a real S3 server on 127.0.0.1: SeaweedFS,
# built once by scripts/seaweedfs.sh (~14 min cold, then cached). Each test starts its own
# server on a free port and stops it; VXM_S3_TESTS=1 turns those tests on.
e2e-s3: rr
	@command -v php >/dev/null || { echo "e2e-s3 needs php-cli (make deps)"; exit 1; }
	scripts/seaweedfs.sh install >/dev/null
	VXM_S3_TESTS=1 $(CARGO) test -p velox-cache --test it remote_tier:: -- --nocapture
	cd e2e && VXM_S3_TESTS=1 VXM_E2E_BINARIES=rr $(GO) test -count=1 -timeout 10m -run 'S3' -v ./...

# The remote tier's benchmark: a REMOTE fill of a 64 MiB binary against a local HIT
# (printed and written to build/bench/remote.txt). Part of `make bench`.
bench-s3:
	@mkdir -p $(BENCH_OUT)
	scripts/seaweedfs.sh install >/dev/null
	set -o pipefail; VXM_S3_TESTS=1 VXM_S3_BENCH=1 $(CARGO) test --release -p velox-cache --test it \
	    remote_tier::remote_fill_against_local_hit_64mib -- --nocapture | tee $(BENCH_OUT)/remote.txt

# Benchmarks (bench/README.md): criterion, the shim's Go benchmarks in both backends, then
# bench/cmd/benchrun loads RoadRunner+velox and the baselines with wrk and writes the report.
# Numbers are reported, never asserted. Run them on an otherwise idle machine.
BENCH_OUT := $(BUILD)/bench
# SEED_SRC=/path/to/a checkout of roadrunner-plugins/velox-middleware adds the original plugin
# as a column (build/rr-seed, scripts/build-rr-seed.sh); without it the column is absent.
SEED_SRC  ?=
BENCH_SEED = $(if $(SEED_SRC),-seed $(BUILD)/rr-seed,)

bench-bins: rr rr-purego
	@mkdir -p $(BENCH_OUT)
	# The baseline is the same main as build/rr with static in place of velox (a build tag).
	rm -f $(BUILD)/rr-static
	cd e2e && CGO_ENABLED=1 $(GO) build -tags rr_static,velox_cgo -o $(BUILD)/rr-static ./cmd/rr
	cd bench && $(GO) build -o $(BUILD)/servecontent ./cmd/servecontent
	cd bench && $(GO) build -o $(BUILD)/benchrun ./cmd/benchrun
	cd bench && $(GO) build -o $(BUILD)/fixedrate ./cmd/fixedrate
	$(if $(SEED_SRC),scripts/build-rr-seed.sh $(SEED_SRC) $(BUILD)/rr-seed,rm -f $(BUILD)/rr-seed)

bench: BENCH_CRITERION := --warm-up-time 2
bench: BENCH_GO := -count 5 -benchtime 1s
bench-quick: BENCH_CRITERION := --quick --warm-up-time 1 --measurement-time 2
bench-quick: BENCH_GO := -count 1 -benchtime 300ms
bench-quick: BENCH_RUN := -quick

bench bench-quick: bench-bins
	@scripts/install-deps.sh bench
	rm -rf target/criterion $(BENCH_OUT)/go-*.txt
	$(CARGO) bench -p velox-core -p velox-middleware --bench request --bench abi_hit --bench cache \
	    -- $(BENCH_CRITERION)
	set -o pipefail; cd go-shim && CGO_ENABLED=1 $(GO) test -tags velox_cgo -run '^$$' -bench ResolveHit -benchmem $(BENCH_GO) . \
	    | tee $(BENCH_OUT)/go-cgo.txt
	set -o pipefail; cd go-shim && CGO_ENABLED=0 VELOX_MIDDLEWARE_LIB=$(SHARED_LIB) $(GO) test -run '^$$' \
	    -bench ResolveHit -benchmem $(BENCH_GO) . | tee $(BENCH_OUT)/go-purego.txt
	timeout 1500 $(BUILD)/benchrun -root $(CURDIR) $(BENCH_RUN) $(BENCH_SEED)
	$(MAKE) bench-s3
	{ echo; echo "## Remote tier: REMOTE fill against local HIT, 64 MiB (make bench-s3)"; echo; \
	  grep '^round' $(BENCH_OUT)/remote.txt | sed 's/^/- /'; } >> BENCHMARKS.md

# Reliability (docs/RELIABILITY.md). The CI-sized parts already run in `make test`
# (crash_consistency, cache_model, fuzz_properties) and `make e2e` (E2EFaults, E2ESoak
# at 40 s); these targets run them on their own, the soak longer.
FUZZ_SECONDS ?= 25
SOAK_DURATION ?= 3m

fuzz-smoke:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz-smoke.sh

reliability: rr
	$(CARGO) test -p velox-core --test it -- crash_consistency:: cache_model:: fuzz_properties:: \
	    --nocapture
	cd e2e && VXM_E2E_BINARIES=rr VXM_SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 \
	    -timeout 30m -run 'E2EFaults|E2ESoak' -v ./...
	$(MAKE) fuzz-smoke

clean:
	$(CARGO) clean
	rm -rf $(BUILD) dist
