package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// phpPage is the worker's /page?size=N body: SHA-256 blocks of "page:i", cut to N.
func phpPage(n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		s := sha256.Sum256([]byte(fmt.Sprintf("page:%d", i)))
		out = append(out, s[:]...)
	}
	return out[:n]
}

func pagesPassThrough(t *testing.T, e *env) {
	ctx := ctxFor(t, 20*time.Second)
	d := get(ctx, e.url("/"), nil)
	if d.err != nil || d.status != 200 || !bytes.Contains(d.body, []byte("Hello from PHP")) {
		t.Fatalf("index page: %v", d)
	}
	if d.header.Get("X-Worker") != "php" || d.header.Get("X-Velox-Cache") != "" {
		t.Errorf("index headers not passed through untouched: %v", d.header)
	}
	d = get(ctx, e.url("/page?size=200000"), nil)
	if d.err != nil || d.status != 200 || !bytes.Equal(d.body, phpPage(200000)) {
		t.Fatalf("200 kB page differs: %v", d)
	}
	d = get(ctx, e.url("/missing"), nil)
	if d.status != 404 || !bytes.Contains(d.body, []byte("not found")) {
		t.Fatalf("404 page: %v", d)
	}
	// A client that accepts gzip gets the gzip middleware's work, decoded by net/http.
	resp, err := http.Get(e.url("/page?size=50000"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if !bytes.Equal(body.Bytes(), phpPage(50000)) || !resp.Uncompressed {
		t.Fatalf("gzip-compressed page: uncompressed=%v, %d bytes", resp.Uncompressed, body.Len())
	}
	expectCalls(t, e, 0)
}

func streamPassesThroughUnbuffered(t *testing.T, e *env) {
	ctx := ctxFor(t, 20*time.Second)
	const chunks, delay = 5, 300 * time.Millisecond
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		e.url(fmt.Sprintf("/stream?chunks=%d&size=64&delay_ms=%d", chunks, delay.Milliseconds())), nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Worker") != "php-stream" {
		t.Fatalf("stream: status %d headers %v", resp.StatusCode, resp.Header)
	}
	r := bufio.NewReader(resp.Body)
	var arrivals []time.Time
	for i := 0; i < chunks; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("chunk %d: %v (got %q)", i, err, line)
		}
		if !strings.HasPrefix(line, fmt.Sprintf("chunk %d ", i)) || len(line) != 64 {
			t.Fatalf("chunk %d is %q", i, line)
		}
		arrivals = append(arrivals, time.Now())
	}
	// Buffered, every chunk would arrive at once; streamed, they arrive as PHP writes them.
	if spread := arrivals[chunks-1].Sub(arrivals[0]); spread < delay*time.Duration(chunks-1)/2 {
		t.Fatalf("chunks arrived within %v of each other: the response was buffered", spread)
	}
}

func missThenHit(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e/miss-then-hit"
	key := keyOf(module)
	first := get(ctx, e.url(buildPath(module, "")), nil)
	expectArtifact(t, first, key, artifactSize, "MISS")
	expectCalls(t, e, 1)
	// The ETag names the bytes (their SHA-256), not the request's key.
	if sum := sha256.Sum256(first.body); first.header.Get("ETag") != fmt.Sprintf(`"%x"`, sum) {
		t.Errorf("ETag %q is not the SHA-256 of the body", first.header.Get("ETag"))
	}
	if first.header.Get("X-Worker-Note") != "kept" {
		t.Errorf("the worker's own header was not forwarded: %v", first.header)
	}
	if first.header.Get("X-Velox-Build") != "" {
		t.Errorf("X-Velox-Build leaked to the client")
	}
	if cd := first.header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	second := get(ctx, e.url(buildPath(module, "")), nil)
	expectArtifact(t, second, key, artifactSize, "HIT")
	if sum(first.body) != sum(second.body) {
		t.Fatal("hit and miss differ")
	}
	expectCalls(t, e, 1)
}

func gzipWorkerBody(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e/gzip-body"
	d := get(ctx, e.url(buildPath(module, "&gzip=1")), nil)
	expectArtifact(t, d, keyOf(module), artifactSize, "MISS")
	if d.header.Get("Content-Encoding") != "" {
		t.Errorf("the worker's Content-Encoding leaked onto the file: %v", d.header)
	}
}

func concurrentIdentical(t *testing.T, e *env) {
	ctx := ctxFor(t, 60*time.Second)
	const module, n = "github.com/e2e/concurrent", 20
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: time.Second}))
	results := make([]download, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = get(ctx, e.url(buildPath(module, "")), nil)
		}()
	}
	wg.Wait()
	sources := expectArtifacts(t, results, module)
	t.Logf("X-Velox-Cache of %d concurrent requests: %v", n, sources)
	if st := e.velox.Stats(); st.Calls != 1 || st.Builds != 1 {
		t.Fatalf("%d identical concurrent requests made %d upstream calls (%d builds), want 1", n, st.Calls, st.Builds)
	}
}

// clientDisconnectCancels runs under build_linger: 0s (the shared environment's
// setting): a departed client's build is cancelled at once, as before lingering existed.
func clientDisconnectCancels(t *testing.T, e *env) {
	const module = "github.com/e2e/disconnect"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 30 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan download, 1)
	go func() { done <- get(ctx, e.url(buildPath(module, "")), nil) }()
	if !e.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.Building == 1 }) {
		t.Fatalf("the build never reached the Velox server: %+v", e.velox.Stats())
	}
	time.Sleep(200 * time.Millisecond) // well into the build
	cancelledAt := time.Now()
	cancel()
	// Well inside build_timeout, so only the client's departure can explain it.
	if !e.velox.WaitFor(buildTimeout/2, func(s fakevelox.Stats) bool { return s.Cancelled == 1 }) {
		t.Fatalf("the upstream call was not cancelled within %v of the client leaving: %+v", buildTimeout/2, e.velox.Stats())
	}
	calls := e.velox.Calls()
	t.Logf("upstream call ended %v after the client left (it ran %v)",
		calls[0].End.Sub(cancelledAt), calls[0].End.Sub(calls[0].Start).Round(time.Millisecond))
	if d := <-done; d.err == nil {
		t.Fatalf("the cancelled client got an answer: %v", d)
	}
	time.Sleep(300 * time.Millisecond) // a retry would show up here
	expectCalls(t, e, 1)
}

func rangeResumes(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e/range"
	key := keyOf(module)
	full := get(ctx, e.url(buildPath(module, "")), nil)
	expectArtifact(t, full, key, artifactSize, "MISS")
	want := fakevelox.Content(key, artifactSize)

	part := get(ctx, e.url(buildPath(module, "")), http.Header{"Range": {"bytes=100000-"}})
	if part.status != http.StatusPartialContent || !bytes.Equal(part.body, want[100000:]) {
		t.Fatalf("resume from 100000: %v", part)
	}
	if cr := part.header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100000-%d/%d", artifactSize-1, artifactSize) {
		t.Errorf("Content-Range = %q", cr)
	}
	head := get(ctx, e.url(buildPath(module, "")), http.Header{"Range": {"bytes=0-99"}})
	if head.status != http.StatusPartialContent || !bytes.Equal(head.body, want[:100]) {
		t.Fatalf("first 100 bytes: %v", head)
	}
	if etag := full.header.Get("ETag"); etag != "" {
		nm := get(ctx, e.url(buildPath(module, "")), http.Header{"If-None-Match": {etag}})
		if nm.status != http.StatusNotModified {
			t.Errorf("If-None-Match %s: %v", etag, nm)
		}
	}
	expectCalls(t, e, 1)
}

func upstreamDown(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Down}))
	start := time.Now()
	d := get(ctx, e.url(buildPath("github.com/e2e/upstream-down", "")), nil)
	body := expectJSONError(t, d, http.StatusBadGateway)
	t.Logf("502 after %v: %v", time.Since(start).Round(time.Millisecond), body)
	must(e.velox.SetMode(fakevelox.Mode{}))
	// Nothing was cached: with the server back, the same request builds.
	d = get(ctx, e.url(buildPath("github.com/e2e/upstream-down", "")), nil)
	expectArtifact(t, d, keyOf("github.com/e2e/upstream-down"), artifactSize, "MISS")
}

func upstream503Retried(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e/retried"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Fail, Status: 503, Code: "unavailable", Count: 1}))
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	expectCalls(t, e, 2)
}

func alreadyExistsStorm(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e/conflict-storm"
	// More 409s than retry.max_attempts: already_exists means "wait", not "fail".
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Conflict, Count: 4}))
	start := time.Now()
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	t.Logf("built after 4 already_exists answers in %v", time.Since(start).Round(time.Millisecond))
	expectCalls(t, e, 5)
}

func buildTimeoutScenario(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Hang}))
	start := time.Now()
	d := get(ctx, e.url(buildPath("github.com/e2e/timeout", "")), nil)
	elapsed := time.Since(start)
	expectJSONError(t, d, http.StatusGatewayTimeout)
	if elapsed < buildTimeout-200*time.Millisecond || elapsed > buildTimeout+3*time.Second {
		t.Errorf("504 after %v, build_timeout is %v", elapsed, buildTimeout)
	}
	if !e.velox.WaitFor(2*time.Second, func(s fakevelox.Stats) bool { return s.InFlight == 0 }) {
		t.Errorf("the hanging upstream call was not abandoned after the timeout: %+v", e.velox.Stats())
	}
}

func badWorkerBody(t *testing.T, e *env) {
	ctx := ctxFor(t, 20*time.Second)
	const module = "github.com/e2e/bad-body"
	expectJSONError(t, get(ctx, e.url(buildPath(module, "&bad=json")), nil), http.StatusBadRequest)
	expectJSONError(t, get(ctx, e.url(buildPath(module, "&bad=empty")), nil), http.StatusBadRequest)
	body := expectJSONError(t, get(ctx, e.url(buildPath(module, "&bad=field")), nil),
		http.StatusBadRequest, http.StatusUnprocessableEntity)
	if !strings.Contains(fmt.Sprint(body), "rr_version") {
		t.Errorf("the error does not name the missing field rr_version: %v", body)
	}
	expectJSONError(t, get(ctx, e.url(buildPath("github.com/e2e/bad|module", "")), nil),
		http.StatusBadRequest, http.StatusUnprocessableEntity)
	expectCalls(t, e, 0)
}

func veloxRejectsOrFails(t *testing.T, e *env) {
	ctx := ctxFor(t, 20*time.Second)
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Fail, Status: 400, Code: "invalid_argument", Message: "plugin not found"}))
	expectJSONError(t, get(ctx, e.url(buildPath("github.com/e2e/rejected", "")), nil), http.StatusUnprocessableEntity)
	expectCalls(t, e, 1) // invalid_argument is never retried

	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Internal}))
	body := expectJSONError(t, get(ctx, e.url(buildPath("github.com/e2e/compile-error", "")), nil), http.StatusBadGateway)
	if !strings.Contains(fmt.Sprint(body), "injected compile error") {
		t.Errorf("502 does not carry the build server's message: %v", body)
	}
}

func seedCacheServed(t *testing.T, e *env) {
	ctx := ctxFor(t, 20*time.Second)
	d := get(ctx, e.url(buildPath(seedModule, "")), nil)
	expectArtifact(t, d, keyOf(seedModule), seedSize, "HIT")
	expectCalls(t, e, 0)
}

func restartKeepsCache(t *testing.T, e *env) {
	ctx := ctxFor(t, 60*time.Second)
	const module = "github.com/e2e/restart"
	key := keyOf(module)
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), key, artifactSize, "MISS")
	e.restart()
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), key, artifactSize, "HIT")
	expectCalls(t, e, 1)
}
