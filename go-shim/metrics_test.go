package velox

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// gather registers the plugin's collectors the way RoadRunner's metrics plugin does and
// returns the scrape as text.
func gather(t *testing.T, p *Plugin) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range p.MetricsCollector() {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsMoveWithAMissThenAHit(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	before := gather(t, h.plugin)
	if before["velox_cache_hits_total"] != 0 || before["velox_builds_started_total"] != 0 {
		t.Fatalf("fresh engine: %v", before)
	}
	// The library lists every reason from the start; the shim exports what it lists.
	for _, reason := range []string{"size", "count", "age", "manual", "mismatch"} {
		if _, ok := before["velox_cache_evictions_total{reason="+reason+"}"]; !ok {
			t.Errorf("eviction reason %s not exported at 0", reason)
		}
	}

	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first download: %d %s", resp.StatusCode, body)
	}
	resp, body2 := h.get(nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCache) != "HIT" {
		t.Fatalf("second download: %d %s", resp.StatusCode, resp.Header.Get(HeaderCache))
	}

	// The server counts a download's bytes when its write returns, a moment after the
	// client has read them: scrape until they are in, for at most 5s.
	served := float64(len(body) + len(body2))
	m := gather(t, h.plugin)
	for deadline := time.Now().Add(5 * time.Second); m["velox_served_bytes_total"] < served && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		m = gather(t, h.plugin)
	}
	want := map[string]float64{
		"velox_cache_misses_total":           1,
		"velox_cache_hits_total":             1,
		"velox_builds_started_total":         1,
		"velox_build_duration_seconds_count": 1,
		"velox_cache_entries":                1,
		"velox_cache_bytes":                  float64(len(body)),
		"velox_cache_dir_entries":            1,
		"velox_cache_dir_bytes":              float64(len(body)),
		"velox_served_bytes_total":           served,
		"velox_builds_in_flight":             0,
		"velox_builds_queued":                0,
		"velox_builds_refused_total":         0,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestUpstreamErrorsAreLabelledWithTheConnectCode(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Internal}); err != nil {
		t.Fatal(err)
	}
	resp, _ := h.get(nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("want 502, got %d", resp.StatusCode)
	}
	m := gather(t, h.plugin)
	if m["velox_upstream_errors_total{code=internal}"] != 1 || m["velox_builds_failed_total{reason=build_failed}"] != 1 {
		t.Fatalf("metrics: %v", m)
	}
}

func TestCollectorIsQuietOnceTheEngineIsClosed(t *testing.T) {
	h := newHarness(t, buildWorker(validRequest().json(), nil))
	h.plugin.engine.Close()
	m := gather(t, h.plugin)
	if _, ok := m["velox_served_bytes_total"]; !ok || len(m) != 1 {
		t.Fatalf("after close: %v", m)
	}
}
