package e2e

// Operations, end to end: the Prometheus metrics scraped from RoadRunner's metrics
// plugin, and what a SIGTERM does to downloads, builds and access statistics.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// scrape reads RoadRunner's /metrics and returns the velox_* samples by their full
// name with labels, as printed (`velox_upstream_errors_total{code="internal"}`).
func scrape(t *testing.T, e *env) map[string]float64 {
	t.Helper()
	resp, err := client.Get("http://" + e.cfg.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping metrics: status %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "velox_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// settled scrapes until velox_served_bytes_total reaches want (the server counts a
// download's bytes when its write returns, a moment after the client has read them),
// for at most 5s.
func settled(t *testing.T, e *env, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := scrape(t, e)
		if m["velox_served_bytes_total"] >= want || time.Now().After(deadline) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectDelta checks that each metric moved by exactly the given amount.
func expectDelta(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for name, d := range want {
		if _, ok := after[name]; !ok {
			t.Errorf("metric %s not exported (have %d velox metrics)", name, len(after))
			continue
		}
		if got := after[name] - before[name]; got != d {
			t.Errorf("%s moved by %v, want %v (before %v, after %v)", name, got, d, before[name], after[name])
		}
	}
}

func TestE2EMetrics(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			e := newEnv(t, bin, nil)
			ctx := ctxFor(t, 60*time.Second)
			before := scrape(t, e)
			for _, name := range []string{
				"velox_cache_hits_total", "velox_cache_misses_total", "velox_builds_started_total",
				"velox_builds_joined_total", "velox_cache_entries", "velox_cache_bytes",
				"velox_builds_in_flight", "velox_served_bytes_total", "velox_build_duration_seconds_count",
				`velox_cache_evictions_total{reason="size"}`,
			} {
				if _, ok := before[name]; !ok {
					t.Errorf("%s missing from a fresh scrape", name)
				}
			}

			// A miss, then a hit of the same binary.
			const module = "github.com/e2e/metrics"
			expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
			expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
			afterHit := settled(t, e, before["velox_served_bytes_total"]+2*artifactSize)
			expectDelta(t, before, afterHit, map[string]float64{
				"velox_cache_misses_total":           1,
				"velox_cache_hits_total":             1,
				"velox_builds_started_total":         1,
				"velox_build_duration_seconds_count": 1,
				"velox_cache_entries":                1,
				"velox_cache_bytes":                  artifactSize,
				"velox_served_bytes_total":           2 * artifactSize,
			})

			// Three identical requests during a slow build: one build, two joins; the
			// in-flight gauge shows the build while it runs.
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 800 * time.Millisecond}))
			const joinModule = "github.com/e2e/metrics-join"
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					expectArtifact(t, get(ctx, e.url(buildPath(joinModule, "")), nil), keyOf(joinModule), artifactSize, "")
				}()
			}
			if !e.velox.WaitFor(5*time.Second, func(s fakevelox.Stats) bool { return s.Building == 1 }) {
				t.Fatalf("the slow build never started: %+v", e.velox.Stats())
			}
			if got := scrape(t, e)["velox_builds_in_flight"]; got != 1 {
				t.Errorf("velox_builds_in_flight = %v during the build, want 1", got)
			}
			wg.Wait()
			afterJoin := settled(t, e, afterHit["velox_served_bytes_total"]+3*artifactSize)
			expectDelta(t, afterHit, afterJoin, map[string]float64{
				"velox_builds_started_total": 1,
				"velox_builds_joined_total":  2,
				"velox_builds_in_flight":     0,
				"velox_served_bytes_total":   3 * artifactSize,
			})
			if afterJoin[`velox_build_duration_seconds_bucket{le="1"}`] < 1 {
				t.Errorf("the 0.8s build is not in the le=1 bucket: %v", afterJoin)
			}

			// A failed build: Velox's `internal` is an upstream error and a failed build.
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Internal, Message: "compile error"}))
			expectJSONError(t, get(ctx, e.url(buildPath("github.com/e2e/metrics-fail", "")), nil), 502)
			expectDelta(t, afterJoin, scrape(t, e), map[string]float64{
				`velox_upstream_errors_total{code="internal"}`:     1,
				`velox_builds_failed_total{reason="build_failed"}`: 1,
				"velox_builds_started_total":                       1,
				"velox_served_bytes_total":                         0,
			})
		})
	}
}

// slowReader reads a download a little at a time, so that it is still running when
// RoadRunner is told to stop.
func slowDownload(ctx context.Context, url string, started chan<- struct{}) download {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	close(started)
	if err != nil {
		return download{err: err}
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	buf := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return download{status: resp.StatusCode, header: resp.Header, body: body.Bytes(), err: err}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func accessCount(t *testing.T, e *env, key string) float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.cacheDir, key+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AccessCount float64 `json:"access_count"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	return meta.AccessCount
}

// sigterm stops RoadRunner gracefully and returns how long it took to exit.
func sigterm(t *testing.T, e *env, limit time.Duration) time.Duration {
	t.Helper()
	p := e.rr
	start := time.Now()
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("RoadRunner did not exit within %v of SIGTERM:\n%s", limit, tail(p.log.String(), 40))
	}
	took := time.Since(start)
	e.rr = nil
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // PHP workers, if any are left
	return took
}

// On SIGTERM: a long download is cut cleanly (a correct prefix, then an error the
// client can see, or complete), a build nobody can wait for any more is cancelled
// upstream, access statistics held in memory reach the .json files, and RoadRunner
// exits well within its graceful timeout.
func TestE2EShutdownCancelsBuildsAndFlushes(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			e := newEnv(t, bin, nil)
			ctx := ctxFor(t, 60*time.Second)

			// A big binary, cached, then hit once: the hit's access statistics stay in
			// memory (access_update_interval defaults to 5m) until the engine is freed.
			const bigModule = "github.com/e2e/shutdown-big"
			const bigSize = 48 << 20
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Normal, Size: bigSize}))
			bigKey := keyOf(bigModule)
			expectArtifact(t, get(ctx, e.url(buildPath(bigModule, "")), nil), bigKey, bigSize, "MISS")
			countBefore := accessCount(t, e, bigKey)

			started := make(chan struct{})
			slow := make(chan download, 1)
			go func() { slow <- slowDownload(ctx, e.url(buildPath(bigModule, "")), started) }()
			<-started

			// A build that would take far longer than the test.
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 60 * time.Second}))
			building := make(chan download, 1)
			go func() { building <- get(ctx, e.url(buildPath("github.com/e2e/shutdown-slow", "")), nil) }()
			if !e.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.Building == 1 }) {
				t.Fatalf("the slow build never reached Velox: %+v", e.velox.Stats())
			}
			time.Sleep(300 * time.Millisecond) // the download is well under way

			took := sigterm(t, e, 20*time.Second)
			t.Logf("RoadRunner exited %v after SIGTERM", took.Round(time.Millisecond))
			if took > 10*time.Second {
				t.Errorf("exit took %v; builds and downloads must not hold the stop", took)
			}

			d := <-slow
			want := fakevelox.Content(bigKey, bigSize)
			if !bytes.Equal(d.body, want[:len(d.body)]) {
				t.Fatalf("the download's bytes are not a prefix of the binary")
			}
			if len(d.body) < bigSize && d.err == nil {
				t.Fatalf("the download was cut at %d of %d bytes without an error", len(d.body), bigSize)
			}
			t.Logf("download: %d of %d bytes, err %v", len(d.body), bigSize, d.err)

			if !e.velox.WaitFor(5*time.Second, func(s fakevelox.Stats) bool { return s.Cancelled == 1 }) {
				t.Fatalf("the build's upstream call was not cancelled: %+v", e.velox.Stats())
			}
			if b := <-building; b.err == nil && b.status == http.StatusOK {
				t.Fatalf("the build's client got a binary: %v", b)
			}
			if got := accessCount(t, e, bigKey); got != countBefore+1 {
				t.Fatalf("access_count on disk = %v after the stop, want %v (statistics not flushed)", got, countBefore+1)
			}
		})
	}
}

// With keep_abandoned_builds, a build in flight at SIGTERM gets the graceful time to
// finish into the cache, and the next RoadRunner serves it without a build.
func TestE2EShutdownKeepsAbandonedBuilds(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			e := newEnv(t, bin, nil)
			e.stop(true)
			e.cfg.KeepAbandoned = true
			e.start()
			ctx := ctxFor(t, 60*time.Second)

			const module = "github.com/e2e/shutdown-keep"
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 1500 * time.Millisecond}))
			go func() { _ = get(ctx, e.url(buildPath(module, "")), nil) }()
			if !e.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.Building == 1 }) {
				t.Fatalf("the build never reached Velox: %+v", e.velox.Stats())
			}
			took := sigterm(t, e, 20*time.Second)
			t.Logf("RoadRunner exited %v after SIGTERM", took.Round(time.Millisecond))
			if s := e.velox.Stats(); s.Builds != 1 || s.Cancelled != 0 {
				t.Fatalf("the kept build did not finish: %+v", s)
			}
			if _, err := os.Stat(filepath.Join(e.cacheDir, keyOf(module)+".json")); err != nil {
				t.Fatalf("the kept build is not in the cache: %v", err)
			}

			e.start()
			must(e.velox.Reset())
			expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
			expectCalls(t, e, 0)
		})
	}
}
