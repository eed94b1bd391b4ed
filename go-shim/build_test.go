package velox

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

const testFileSize = 64 << 10

func TestMissThenHitServeIdenticalBytes(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), http.Header{"X-Custom": {"kept"}}))
	want := fakevelox.Content(req.key(), testFileSize)

	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first download: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get(HeaderCache); got != "MISS" {
		t.Fatalf("first download: %s = %q, want MISS", HeaderCache, got)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("first download: %d bytes differ from the built file (%d bytes)", len(body), len(want))
	}
	checkFileHeaders(t, resp, contentHash(body), "rr-v2025.1.5-linux-amd64")
	if resp.Header.Get("X-Custom") != "kept" {
		t.Fatalf("worker header not forwarded: %v", resp.Header)
	}

	resp, body = h.get(nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCache) != "HIT" {
		t.Fatalf("second download: %d %s=%q", resp.StatusCode, HeaderCache, resp.Header.Get(HeaderCache))
	}
	if !bytes.Equal(body, want) {
		t.Fatal("second download: bytes differ from the first")
	}
	if n := h.velox.Stats().Calls; n != 1 {
		t.Fatalf("Velox was called %d times, want 1", n)
	}
	st, err := h.plugin.Engine().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 1 || st.Builds != 1 {
		t.Fatalf("engine stats: %+v", st)
	}
}

// contentHash is what the ETag must be: the SHA-256 of the bytes served, not the key.
func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func checkFileHeaders(t *testing.T, resp *http.Response, sha256Hex, name string) {
	t.Helper()
	want := map[string]string{
		"Content-Type":        "application/octet-stream",
		"Content-Disposition": `attachment; filename="` + name + `"`,
		"Etag":                `"` + sha256Hex + `"`,
		"Accept-Ranges":       "bytes",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{HeaderBuild, "Content-Encoding"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("worker header %s leaked: %q", k, v)
		}
	}
}

func TestRangeHeadAndIfNoneMatchUseServeContentSemantics(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	want := fakevelox.Content(req.key(), testFileSize)
	etag := `"` + contentHash(want) + `"`

	resp, body := h.get(http.Header{"Range": {"bytes=100-199"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[100:200]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if cr := resp.Header.Get("Content-Range"); cr != "bytes 100-199/65536" {
		t.Fatalf("Content-Range = %q", cr)
	}

	head, err := http.NewRequest(http.MethodHead, h.server.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = h.do(head)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != testFileSize || len(body) != 0 {
		t.Fatalf("HEAD: %d length=%d body=%d", resp.StatusCode, resp.ContentLength, len(body))
	}

	resp, body = h.get(http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("If-None-Match: %d with %d bytes", resp.StatusCode, len(body))
	}

	resp, body = h.get(http.Header{"If-Range": {`"stale"`}, "Range": {"bytes=0-9"}})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("If-Range with a stale ETag: %d, %d bytes (want the whole file)", resp.StatusCode, len(body))
	}
}

func TestGzipEncodedWorkerBodyIsDecoded(t *testing.T) {
	req := validRequest()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(req.json())
	_ = zw.Close()
	h := newHarness(t, buildWorker(zipped.Bytes(), http.Header{"Content-Encoding": {"gzip"}}))

	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, fakevelox.Content(req.key(), testFileSize)) {
		t.Fatalf("gzip body: %d %q", resp.StatusCode, truncate(body))
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("the worker's Content-Encoding reached the client")
	}
}

func TestWindowsBinaryGetsExeNameAndWorkerDispositionWins(t *testing.T) {
	req := validRequest()
	req.TargetPlatform = &buildPlatform{OS: "windows", Arch: "arm64"}
	h := newHarness(t, buildWorker(req.json(), nil))
	resp, _ := h.get(nil)
	if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="rr-v2025.1.5-windows-arm64.exe"` {
		t.Fatalf("Content-Disposition = %q", got)
	}

	h.worker = buildWorker(req.json(), http.Header{"Content-Disposition": {`attachment; filename="custom.exe"`}})
	resp, _ = h.get(nil)
	if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="custom.exe"` {
		t.Fatalf("worker's Content-Disposition replaced: %q", got)
	}
}

func TestBadBodyIs400NamingTheField(t *testing.T) {
	req := validRequest()
	req.RRVersion = ""
	h := newHarness(t, buildWorker(req.json(), nil))
	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
	}
	e := decodeError(t, body)
	if !strings.Contains(e.Error, "rr_version") || e.Code == "" {
		t.Fatalf("error does not name rr_version: %+v", e)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error Content-Type = %q", resp.Header.Get("Content-Type"))
	}

	h.worker = buildWorker([]byte("{not json"), nil)
	resp, body = h.get(nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid JSON: %d %s", resp.StatusCode, body)
	}
	if n := h.velox.Stats().Calls; n != 0 {
		t.Fatalf("an invalid request reached Velox (%d calls)", n)
	}
}

func TestOversizedBodyIs400(t *testing.T) {
	h := newHarness(t, buildWorker(bytes.Repeat([]byte(" "), maxBody(t)+1), nil))
	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(decodeError(t, body).Error, "body") {
		t.Fatalf("oversized body: %d %s", resp.StatusCode, body)
	}
}

func TestUpstreamFailuresUseTheLibraryStatus(t *testing.T) {
	req := validRequest()
	// The worker's headers for the file must not describe the error instead.
	h := newHarness(t, buildWorker(req.json(), http.Header{
		"Content-Disposition": {`attachment; filename="rr"`},
		"Etag":                {`"worker"`},
	}))
	cases := []struct {
		mode   fakevelox.Mode
		status int
	}{
		{fakevelox.Mode{Kind: fakevelox.Internal, Message: "compile error: boom"}, http.StatusBadGateway},
		{fakevelox.Mode{Kind: fakevelox.Fail, Status: 400, Code: "invalid_argument", Message: "bad plugin"}, http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		if err := h.velox.SetMode(c.mode); err != nil {
			t.Fatal(err)
		}
		resp, body := h.get(nil)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.mode.Kind, resp.StatusCode, c.status, body)
		}
		e := decodeError(t, body)
		if e.Code == "" || !strings.Contains(e.Error, c.mode.Message) {
			t.Fatalf("%s: error body %+v does not carry the server's message", c.mode.Kind, e)
		}
		if resp.Header.Get("Content-Disposition") != "" || resp.Header.Get("ETag") != "" || resp.Header.Get(HeaderBuild) != "" {
			t.Fatalf("%s: file headers on an error: %v", c.mode.Kind, resp.Header)
		}
	}
}

func TestClientDisconnectCancelsTheBuild(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Hang}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.server.URL, nil)
		resp, err := http.DefaultClient.Do(r)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()

	if !h.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.InFlight == 1 }) {
		t.Fatal("the build never reached Velox")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	if !h.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.Cancelled == 1 && s.InFlight == 0 }) {
		t.Fatalf("Velox never saw the cancellation: %+v", h.velox.Stats())
	}
}

func TestConcurrentIdenticalRequestsMakeOneUpstreamCall(t *testing.T) {
	const clients = 8
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	want := fakevelox.Content(req.key(), testFileSize)

	var wg sync.WaitGroup
	var mu sync.Mutex
	sources := map[string]int{}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := h.get(nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Errorf("client: %d, %d bytes", resp.StatusCode, len(body))
			}
			mu.Lock()
			sources[resp.Header.Get(HeaderCache)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := h.velox.Stats().Calls; n != 1 {
		t.Fatalf("%d upstream calls for %d identical requests, want 1", n, clients)
	}
	if sources["MISS"] != 1 || sources["MISS"]+sources["JOINED"]+sources["HIT"] != clients {
		t.Fatalf("cache sources: %v", sources)
	}
}

func TestStopAnswers503ToWaitingClients(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Hang}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   []byte
	}
	done := make(chan result, 1)
	go func() {
		resp, body := h.get(nil)
		done <- result{resp.StatusCode, body}
	}()
	if !h.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.InFlight == 1 }) {
		t.Fatal("the build never reached Velox")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.plugin.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.status != http.StatusServiceUnavailable || decodeError(t, r.body).Code == "" {
			t.Fatalf("waiting client got %d %s, want 503", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting client was not answered after Stop")
	}
	// A request after Stop is refused too, without touching the freed engine.
	resp, _ := h.get(nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Stop: %d", resp.StatusCode)
	}
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
