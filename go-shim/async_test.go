package velox

import (
	"encoding/json"
	"io"
	"net/http"
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
