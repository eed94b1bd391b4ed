package e2e

// Asynchronous answers under load, through RoadRunner: a build promised with a 202 is
// delivered to the client's poll even when the cache cannot keep it (the pickup hold),
// and builds in flight are bounded (max_concurrent_builds, build_queue_limit; beyond
// them 503 busy). The fake Velox takes loadBuild per build.

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

const (
	loadBuild = 4 * time.Second
	// A client following Retry-After gives up after maxPolls polls or pollBudget.
	maxPolls   = 8
	pollBudget = 45 * time.Second
	// 0.0001 GiB is 107,374 bytes: every artifactSize (300,000) binary is past it.
	maxSizeBelowArtifact = "0.0001"
)

var preferAsync = http.Header{"Prefer": {"respond-async"}}

// newLoadEnv is an environment for builds that outlast a request: build_timeout and
// request_timeout well past loadBuild, the default build_linger.
func newLoadEnv(t *testing.T, bin string, configure func(*rrConfig)) *env {
	t.Helper()
	worker := filepath.Join(repoRoot(t), "e2e", "php", "worker.php")
	return newEnvConfigured(t, bin, worker, nil, func(c *rrConfig) {
		c.BuildTimeout = "40s"
		c.RequestTimeout = "30s"
		c.BuildLinger = ""
		configure(c)
	})
}

func TestE2EPickupHold(t *testing.T) {
	uncachable := []struct {
		name      string
		configure func(*rrConfig)
	}{
		{"cache_disabled", func(c *rrConfig) { c.CacheDisabled = true }},
		{"binary_larger_than_max_size", func(c *rrConfig) {
			c.Cache = map[string]string{"max_size_gb": maxSizeBelowArtifact}
		}},
	}
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			for _, u := range uncachable {
				t.Run(u.name, func(t *testing.T) {
					e := newLoadEnv(t, bin, u.configure)
					deliveredFromHold(t, e, "github.com/e2e/pickup-"+u.name)
				})
			}
			t.Run("cache_disabled_no_hold_no_202", func(t *testing.T) {
				e := newLoadEnv(t, bin, func(c *rrConfig) {
					c.CacheDisabled = true
					c.Velox = map[string]string{"pickup_hold": "0s"}
				})
				waitedWithoutPromise(t, e, "github.com/e2e/pickup-no-hold")
			})
		})
	}
}

// deliveredFromHold: a client that asks for an asynchronous answer gets a 202, follows
// Retry-After and gets the binary from one build, which the cache did not keep.
func deliveredFromHold(t *testing.T, e *env, module string) {
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: loadBuild}))
	before := scrape(t, e)
	first := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), preferAsync)
	expectBuilding(t, first, keyOf(module))
	d, polls := pollUntilDelivered(t, e, module, first)
	expectArtifact(t, d, keyOf(module), artifactSize, "JOINED")
	// Every poll within pickup_hold gets it, still from that one build.
	again := get(ctxFor(t, 10*time.Second), e.url(buildPath(module, "")), preferAsync)
	expectArtifact(t, again, keyOf(module), artifactSize, "JOINED")
	expectCalls(t, e, 1)
	if cached(e, module) {
		t.Errorf("the cache kept %s (%v): this test no longer reaches the pickup hold", module, cacheFiles(e))
	}
	expectDelta(t, before, scrape(t, e), map[string]float64{
		`velox_pickups_total{event="held"}`:    1,
		`velox_pickups_total{event="served"}`:  2,
		`velox_pickups_total{event="dropped"}`: 0,
	})
	t.Logf("1 build, delivered after %d poll(s)", polls)
}

// waitedWithoutPromise: with nothing to keep a result (no cache, no hold) a 202 would be
// a promise nobody keeps, so the client waits for its binary instead.
func waitedWithoutPromise(t *testing.T, e *env, module string) {
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: loadBuild}))
	start := time.Now()
	d := get(ctxFor(t, 30*time.Second), e.url(buildPath(module, "")), preferAsync)
	expectArtifact(t, d, keyOf(module), artifactSize, "MISS")
	if took := time.Since(start); took < loadBuild {
		t.Errorf("answered after %v, before the build (%v) ended", took, loadBuild)
	}
	expectCalls(t, e, 1)
}

func TestE2EAdmission(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			e := newLoadEnv(t, bin, func(c *rrConfig) {
				c.Velox = map[string]string{"max_concurrent_builds": "1", "build_queue_limit": "1"}
			})
			must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: loadBuild}))
			mods := []string{"github.com/e2e/admit-running", "github.com/e2e/admit-queued", "github.com/e2e/admit-refused"}
			before := scrape(t, e)
			var accepted [2]download
			for i := range accepted {
				accepted[i] = get(ctxFor(t, 10*time.Second), e.url(buildPath(mods[i], "")), preferAsync)
			}
			refused := get(ctxFor(t, 10*time.Second), e.url(buildPath(mods[2], "")), preferAsync)
			queuedNow := scrape(t, e)["velox_builds_queued"]

			if b := expectBuilding(t, accepted[0], keyOf(mods[0])); b.Position != nil {
				t.Errorf("the running build has position %d, want null", *b.Position)
			}
			if b := expectBuilding(t, accepted[1], keyOf(mods[1])); b.Position == nil || *b.Position != 1 {
				t.Errorf("the queued build's position = %v, want 1 (body %s)", b.Position, accepted[1].body)
			}
			expectBusy(t, refused)
			if queuedNow != 1 {
				t.Errorf("velox_builds_queued = %v while one build waited, want 1", queuedNow)
			}
			expectDelta(t, before, scrape(t, e), map[string]float64{"velox_builds_refused_total": 1})

			for i := range accepted {
				d, _ := pollUntilDelivered(t, e, mods[i], accepted[i])
				expectArtifact(t, d, keyOf(mods[i]), artifactSize, "")
			}
			if st := e.velox.Stats(); st.Calls != 2 || st.MaxInFlight != 1 {
				t.Fatalf("want 2 upstream builds, one at a time: %+v", st)
			}
			// The refused client, back after its Retry-After, finds room now.
			time.Sleep(retryAfter(t, refused))
			retried := get(ctxFor(t, 10*time.Second), e.url(buildPath(mods[2], "")), preferAsync)
			if retried.status == http.StatusAccepted {
				retried, _ = pollUntilDelivered(t, e, mods[2], retried)
			}
			expectArtifact(t, retried, keyOf(mods[2]), artifactSize, "")
			if st := e.velox.Stats(); st.Calls != 3 || st.MaxInFlight != 1 {
				t.Fatalf("want 3 upstream builds, one at a time: %+v", st)
			}
		})
	}
}

// expectBusy checks a refusal for a full build queue: 503, Retry-After, code busy.
func expectBusy(t *testing.T, d download) {
	t.Helper()
	body := expectJSONError(t, d, http.StatusServiceUnavailable)
	if body["code"] != "busy" {
		t.Errorf("code = %v, want busy (body %s)", body["code"], d.body)
	}
	retryAfter(t, d)
}

// pollUntilDelivered follows Retry-After from prev, a 202 for module, like a client
// with Prefer: respond-async, for at most maxPolls polls and pollBudget in all; it
// returns the first answer that is not a 202 and how many polls it took.
func pollUntilDelivered(t *testing.T, e *env, module string, prev download) (download, int) {
	t.Helper()
	deadline := time.Now().Add(pollBudget)
	for polls := 1; polls <= maxPolls; polls++ {
		wait := retryAfter(t, prev)
		if time.Now().Add(wait).After(deadline) {
			t.Fatalf("%s: still 202 after %d polls, next in %v past the %v budget", module, polls-1, wait, pollBudget)
		}
		time.Sleep(wait)
		d := get(ctxFor(t, 30*time.Second), e.url(buildPath(module, "")), preferAsync)
		if d.status != http.StatusAccepted {
			return d, polls
		}
		expectBuilding(t, d, keyOf(module))
		prev = d
	}
	t.Fatalf("%s: still 202 after %d polls", module, maxPolls)
	return download{}, 0
}

// retryAfter is d's Retry-After in seconds, at least 1 (fails the test otherwise).
func retryAfter(t *testing.T, d download) time.Duration {
	t.Helper()
	s, err := strconv.Atoi(d.header.Get("Retry-After"))
	if err != nil || s < 1 {
		t.Fatalf("Retry-After = %q, want a number of seconds >= 1 (%v)", d.header.Get("Retry-After"), d)
	}
	return time.Duration(s) * time.Second
}

// cacheFiles lists the cache directory, for failure messages.
func cacheFiles(e *env) []string {
	entries, _ := os.ReadDir(e.cacheDir)
	names := make([]string, 0, len(entries))
	for _, de := range entries {
		names = append(names, de.Name())
	}
	return names
}
