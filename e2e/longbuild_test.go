package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// Long builds for real clients: a build outlives a client that gave up (build_linger),
// and a client can be answered 202 + Retry-After while the build goes on (respond_after,
// Prefer: respond-async). The fake Velox takes longBuild per build.

const longBuild = 6 * time.Second

var longBuildScenarios = []scenario{
	{"retry_after_a_client_left_joins_one_build", retryJoinsLingeringBuild},
	{"prefer_respond_async_without_the_config_key", preferRespondAsync},
	{"respond_after_202_then_hit", respondAfterThenHit},
	{"failed_build_answered_to_the_next_poll_not_rebuilt", failedBuildAnsweredToPoll},
}

func TestE2ELongBuilds(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			worker := filepath.Join(repoRoot(t), "e2e", "php", "worker.php")
			// The default build_linger (capped at build_timeout) and no respond_after.
			e := newEnvConfigured(t, bin, worker, nil, func(c *rrConfig) {
				c.BuildTimeout = "40s"
				c.RequestTimeout = "30s"
				c.BuildLinger = ""
			})
			for _, sc := range longBuildScenarios {
				t.Run(sc.name, func(t *testing.T) {
					e.prepare(t, sc.name)
					sc.run(t, e)
				})
			}
			e.t = t
		})
	}
}

// building is a 202 answer as the contract describes it.
type building struct {
	Status    string `json:"status"`
	Key       string `json:"key"`
	ElapsedMs int64  `json:"elapsed_ms"`
	Position  *int   `json:"position"`
}

func expectBuilding(t *testing.T, d download, key string) building {
	t.Helper()
	if d.err != nil || d.status != http.StatusAccepted {
		t.Fatalf("want 202 while building, got %v", d)
	}
	if got := d.header.Get("X-Velox-Cache"); got != "BUILDING" {
		t.Errorf("X-Velox-Cache = %q, want BUILDING", got)
	}
	if ra, err := strconv.Atoi(d.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q, want a number of seconds >= 1", d.header.Get("Retry-After"))
	}
	if ct := d.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var b building
	if err := json.Unmarshal(d.body, &b); err != nil {
		t.Fatalf("202 body is not JSON: %q (%v)", d.body, err)
	}
	if b.Status != "building" || b.Key != key {
		t.Errorf("202 body = %+v, want status building and key %s", b, key)
	}
	return b
}

func retryJoinsLingeringBuild(t *testing.T, e *env) {
	const module = "github.com/e2e/linger"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: longBuild}))
	start := time.Now()
	// A client behind a proxy that gives up after 2 s.
	impatient, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if d := get(impatient, e.url(buildPath(module, "")), nil); d.err == nil {
		t.Fatalf("the impatient client got an answer: %v", d)
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	d := get(ctxFor(t, 30*time.Second), e.url(buildPath(module, "")), nil)
	expectArtifact(t, d, keyOf(module), artifactSize, "JOINED")
	st := e.velox.Stats()
	if st.Calls != 1 || st.Builds != 1 || st.Cancelled != 0 {
		t.Fatalf("want exactly 1 upstream build, never cancelled: %+v", st)
	}
	t.Logf("the retry at 3s joined the build; answered after %v", time.Since(start).Round(time.Millisecond))
}

func preferRespondAsync(t *testing.T, e *env) {
	const module = "github.com/e2e/prefer-async"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: longBuild}))
	prefer := http.Header{"Prefer": {"respond-async"}}
	first := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), prefer)
	expectBuilding(t, first, keyOf(module))
	if got := first.header.Get("Preference-Applied"); got != "respond-async" {
		t.Errorf("Preference-Applied = %q, want respond-async", got)
	}
	// Poll as a client would, bounded; the answers are 202 until the binary is there.
	deadline := time.Now().Add(30 * time.Second)
	polls := 0
	for {
		d := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), prefer)
		polls++
		if d.status == http.StatusOK {
			expectArtifact(t, d, keyOf(module), artifactSize, "HIT")
			break
		}
		b := expectBuilding(t, d, keyOf(module))
		if time.Now().After(deadline) {
			t.Fatalf("still building after 30s: %+v", b)
		}
		time.Sleep(500 * time.Millisecond)
	}
	expectCalls(t, e, 1)
	t.Logf("%d polls", polls)
}

func respondAfterThenHit(t *testing.T, e *env) {
	const module = "github.com/e2e/respond-after"
	e.cfg.RespondAfter = "1s"
	e.restart()
	defer func() { e.cfg.RespondAfter = ""; e.restart() }()
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: longBuild}))
	start := time.Now()
	first := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), nil)
	took := time.Since(start)
	b := expectBuilding(t, first, keyOf(module))
	if took < 900*time.Millisecond || b.ElapsedMs < 900 {
		t.Errorf("answered after %v (elapsed_ms %d), want after respond_after (1s)", took, b.ElapsedMs)
	}
	if first.header.Get("Preference-Applied") != "" {
		t.Errorf("Preference-Applied without a Prefer header")
	}
	if !e.velox.WaitFor(30*time.Second, func(s fakevelox.Stats) bool { return s.Builds == 1 }) {
		t.Fatalf("the build did not finish after the 202: %+v", e.velox.Stats())
	}
	for i := 0; i < 50 && !cached(e, module); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	d := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), nil)
	expectArtifact(t, d, keyOf(module), artifactSize, "HIT")
	expectCalls(t, e, 1)
}

func failedBuildAnsweredToPoll(t *testing.T, e *env) {
	const module = "github.com/e2e/async-fails"
	e.cfg.RespondAfter = "1s"
	e.restart()
	defer func() { e.cfg.RespondAfter = ""; e.restart() }()
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Fail, Status: 400, Code: "invalid_argument",
		Message: "plugin github.com/e2e/async-fails@v1.0.0 not found", Delay: 3 * time.Second}))
	first := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), nil)
	expectBuilding(t, first, keyOf(module))
	if !e.velox.WaitFor(30*time.Second, func(s fakevelox.Stats) bool { return s.Errors == 1 && s.InFlight == 0 }) {
		t.Fatalf("the build did not fail: %+v", e.velox.Stats())
	}
	// A tight polling loop: every answer is the build's error, and nothing is rebuilt.
	for i := 0; i < 5; i++ {
		d := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), nil)
		body := expectJSONError(t, d, http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusBadGateway)
		if msg, _ := body["error"].(string); !strings.Contains(msg, "not found") {
			t.Errorf("poll %d: error %q does not carry the build's message", i, msg)
		}
	}
	expectCalls(t, e, 1)
}
