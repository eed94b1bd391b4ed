// Package e2e runs real RoadRunner binaries (build/rr with the cgo backend,
// build/rr-purego with the purego one) with a real PHP worker against the fake Velox
// server, and checks what HTTP clients see. `make e2e` builds the binaries and runs it.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

const (
	artifactSize = 300_000
	buildTimeout = 3 * time.Second
	rrVersion    = "v2025.1.15"
	tag          = "v1.0.0"
	// seedModule's entry is written into the cache directory before RoadRunner starts.
	seedModule = "github.com/e2e/seed-written"
	seedSize   = 5_000
)

type scenario struct {
	name string
	run  func(t *testing.T, e *env)
}

var scenarios = []scenario{
	{"pages_pass_through", pagesPassThrough},
	{"stream_passes_through_unbuffered", streamPassesThroughUnbuffered},
	{"miss_then_hit_same_bytes", missThenHit},
	{"gzip_worker_body", gzipWorkerBody},
	{"concurrent_identical_requests_one_build", concurrentIdentical},
	{"client_disconnect_cancels_build", clientDisconnectCancels},
	{"range_resumes_download", rangeResumes},
	{"upstream_down_502_json", upstreamDown},
	{"upstream_503_is_retried", upstream503Retried},
	{"already_exists_storm_waits_for_the_build", alreadyExistsStorm},
	{"build_timeout_504", buildTimeoutScenario},
	{"bad_worker_body_400", badWorkerBody},
	{"velox_rejects_or_fails", veloxRejectsOrFails},
	{"replace_needs_a_velox_that_knows_it", replaceNeedsAVeloxThatKnowsIt},
	{"seed_cache_served_without_build", seedCacheServed},
	{"restart_keeps_cache", restartKeepsCache},
}

func TestE2E(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			e := newEnv(t, bin, writeSeedEntry)
			for _, sc := range scenarios {
				ok := t.Run(sc.name, func(t *testing.T) {
					e.prepare(t, sc.name)
					sc.run(t, e)
					e.expectAlive(t, sc.name)
				})
				if !ok {
					t.Logf("scenario %s/%s FAILED", bin, sc.name)
				}
			}
			e.t = t
		})
	}
}

// prepare readies e for the scenario name, run as t: the fake Velox reset, and RoadRunner
// started again if an earlier scenario left it dead, so that one crash fails one scenario.
func (e *env) prepare(t *testing.T, name string) {
	e.t = t
	if err := e.velox.Reset(); err != nil {
		t.Fatal(err)
	}
	if e.rr == nil || exited(e.rr) {
		t.Logf("RoadRunner was not running before %s; starting it", name)
		e.start()
	}
}

// expectAlive fails the scenario name, with RoadRunner's last log lines, if RoadRunner
// exited during it.
func (e *env) expectAlive(t *testing.T, name string) {
	if exited(e.rr) {
		t.Fatalf("RoadRunner exited during %s:\n%s", name, tail(e.rr.log.String(), 40))
	}
}

func exited(p *rrProcess) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ---- helpers ---------------------------------------------------------------------------

func keyOf(module string) string {
	return fakevelox.Key(rrVersion, "linux", "amd64", []fakevelox.Plugin{{ModuleName: module, Tag: tag}})
}

func buildPath(module, extra string) string {
	return "/build?rr=" + rrVersion + "&os=linux&arch=amd64&plugins=" + url.QueryEscape(module+"@"+tag) + extra
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// expectArtifacts checks that every one of results is module's artifact (failing at the
// first that is not) and counts them by X-Velox-Cache.
func expectArtifacts(t *testing.T, results []download, module string) map[string]int {
	t.Helper()
	sources := map[string]int{}
	for i, d := range results {
		expectArtifact(t, d, keyOf(module), artifactSize, "")
		if t.Failed() {
			t.Fatalf("request %d failed", i)
		}
		sources[d.header.Get("X-Velox-Cache")]++
	}
	return sources
}

func expectArtifact(t *testing.T, d download, key string, size int, cache string) {
	t.Helper()
	if d.err != nil || d.status != 200 {
		t.Fatalf("want 200 with the binary, got %v", d)
	}
	want := fakevelox.Content(key, size)
	if !bytes.Equal(d.body, want) {
		t.Fatalf("body differs from the built file: got %d bytes sha256 %s, want %d bytes sha256 %s",
			len(d.body), sum(d.body), len(want), sum(want))
	}
	if got := d.header.Get("X-Velox-Cache"); cache != "" && got != cache {
		t.Errorf("X-Velox-Cache = %q, want %q", got, cache)
	}
	if got := d.header.Get("Content-Length"); got != fmt.Sprint(size) {
		t.Errorf("Content-Length = %q, want %d", got, size)
	}
}

func expectJSONError(t *testing.T, d download, statuses ...int) map[string]any {
	t.Helper()
	okStatus := false
	for _, s := range statuses {
		okStatus = okStatus || d.status == s
	}
	if d.err != nil || !okStatus {
		t.Fatalf("want status %v with a JSON error, got %v", statuses, d)
	}
	var body map[string]any
	if err := json.Unmarshal(d.body, &body); err != nil || body["error"] == nil {
		t.Fatalf("error body is not JSON with an \"error\" field: %q (%v)", d.body, err)
	}
	return body
}

func expectCalls(t *testing.T, e *env, want int) {
	t.Helper()
	if got := e.velox.Stats().Calls; got != want {
		t.Fatalf("upstream Build calls = %d, want %d (calls: %+v)", got, want, e.velox.Calls())
	}
}

// writeSeedEntry pre-writes one entry exactly as the seed plugin stores it.
func writeSeedEntry(cacheDir string) {
	key := keyOf(seedModule)
	meta := map[string]any{
		"version":           "1.0",
		"hash":              key,
		"binary_file":       key + ".bin",
		"file_size":         seedSize,
		"rr_version":        rrVersion,
		"platform":          map[string]string{"os": "linux", "arch": "amd64"},
		"plugins":           []map[string]string{{"module_name": seedModule, "tag": tag}},
		"created_at":        time.Now().Add(-time.Hour).Unix(),
		"last_accessed":     time.Now().Add(-time.Hour).Unix(),
		"access_count":      1,
		"build_duration_ms": 61000,
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	must(os.WriteFile(filepath.Join(cacheDir, key+".bin"), fakevelox.Content(key, seedSize), 0o644))
	must(os.WriteFile(filepath.Join(cacheDir, key+".json"), data, 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
