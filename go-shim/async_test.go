package velox

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// A client asking Prefer: respond-async gets the library's 202 as it is: status,
// Retry-After, X-Velox-Cache: BUILDING, Preference-Applied and the JSON body; none of the
// worker's headers describe it. The build goes on, and the next request gets the binary.
func TestRespondAsyncIsAnswered202AndTheBuildGoesOn(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), http.Header{"Content-Disposition": {`attachment; filename="rr"`}}))
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, h.server.URL, nil)
	r.Header.Add("Prefer", "respond-async")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"X-Velox-Cache":       CacheBuilding,
		"Preference-Applied":  "respond-async",
		"Content-Type":        "application/json",
		"Cache-Control":       "no-store",
		"Content-Disposition": "",
		HeaderBuild:           "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	var b struct {
		Status string `json:"status"`
		Key    string `json:"key"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Status != "building" || len(b.Key) != 64 {
		t.Fatalf("body %s (%v)", body, err)
	}

	resp, err = http.Get(h.server.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Velox-Cache") != "JOINED" {
		t.Fatalf("after the 202: status %d, X-Velox-Cache %q", resp.StatusCode, resp.Header.Get("X-Velox-Cache"))
	}
	if st := h.velox.Stats(); st.Calls != 1 || st.Cancelled != 0 {
		t.Fatalf("want one upstream build, never cancelled: %+v", st)
	}
	m := gather(t, h.plugin)
	for k, want := range map[string]float64{
		"velox_async_answers_total":             1,
		"velox_builds_joined_after_leave_total": 1,
		"velox_builds_linger_expired_total":     0,
		"velox_failures_replayed_total":         0,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (exported %v), want %v", k, got, ok, want)
		}
	}
}

// With one build running and no queue, a request for another build is refused at once
// with the library's answer: 503, its Retry-After and the JSON code "busy"; the shim
// decides none of it.
func TestAFullBuildQueueIsAnswered503WithRetryAfter(t *testing.T) {
	byTag := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := validRequest()
		req.Plugins[0]["tag"] = r.URL.Query().Get("tag")
		buildWorker(req.json(), nil).ServeHTTP(w, r)
	})
	h := newHarnessWith(t, byTag, harnessOptions{section: func(s map[string]any) {
		s["max_concurrent_builds"] = 1
		s["build_queue_limit"] = 0
	}})
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ask := func(tag string) (*http.Response, []byte) {
		r, _ := http.NewRequest(http.MethodGet, h.server.URL+"?tag="+tag, nil)
		r.Header.Add("Prefer", "respond-async")
		return h.do(r)
	}
	if resp, body := ask("v5.3.0"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first build: status %d, body %s", resp.StatusCode, body)
	}
	resp, body := ask("v5.3.1")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second build: status %d, body %s", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	var b struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Code != "busy" {
		t.Fatalf("body %s (%v)", body, err)
	}
	m := gather(t, h.plugin)
	if m["velox_builds_refused_total"] != 1 {
		t.Errorf("velox_builds_refused_total = %v, want 1", m["velox_builds_refused_total"])
	}
}
