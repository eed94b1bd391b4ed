package velox

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// roadRunnerTimeouts is RoadRunner's http server (servers/http11: read, header and write
// timeouts all 5 minutes) scaled down to 2 s.
func roadRunnerTimeouts(s *http.Server) {
	s.ReadTimeout, s.ReadHeaderTimeout, s.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
}

func TestBuildLongerThanServerTimeoutsReachesClient(t *testing.T) {
	req := validRequest()
	h := newHarnessWith(t, buildWorker(req.json(), nil), harnessOptions{server: roadRunnerTimeouts})
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 4 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderCache) != "MISS" {
		t.Fatalf("download: %d %s=%q %s", resp.StatusCode, HeaderCache, resp.Header.Get(HeaderCache), body)
	}
	if want := fakevelox.Content(req.key(), testFileSize); !bytes.Equal(body, want) {
		t.Fatalf("got %d bytes, want the %d-byte binary", len(body), len(want))
	}

	// The next request on the same server still has its deadlines (net/http arms them
	// per request): a quick pass-through answer works as before.
	h.worker = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
	if resp, body := h.get(nil); resp.StatusCode != http.StatusOK || string(body) != "page" {
		t.Fatalf("pass-through after a long build: %d %q", resp.StatusCode, body)
	}
}

func TestBuildTimeoutLongerThanServerTimeoutsGives504(t *testing.T) {
	req := validRequest()
	h := newHarnessWith(t, buildWorker(req.json(), nil), harnessOptions{
		server:  roadRunnerTimeouts,
		section: func(s map[string]any) { s["build_timeout"] = "3s" }, // after the server's 2 s, before the build's 4 s
	})
	if err := h.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 4 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d %s, want 504", resp.StatusCode, body)
	}
	if e := decodeError(t, body); e.Code != "timeout" {
		t.Fatalf("error body %+v, want code timeout", e)
	}
}

// opaqueWriter hides the connection from http.ResponseController (no Unwrap), as a
// middleware between RoadRunner and the plugin might.
type opaqueWriter struct{ w http.ResponseWriter }

func (o opaqueWriter) Header() http.Header         { return o.w.Header() }
func (o opaqueWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
func (o opaqueWriter) WriteHeader(code int)        { o.w.WriteHeader(code) }

func TestWriterWithoutDeadlinesStillServesBuilds(t *testing.T) {
	req := validRequest()
	h := newHarnessWith(t, buildWorker(req.json(), nil), harnessOptions{
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(opaqueWriter{w}, r) })
		},
	})
	for i := range 2 {
		resp, body := h.get(nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, fakevelox.Content(req.key(), testFileSize)) {
			t.Fatalf("download %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
	}
	if n := h.logs.FilterMessageSnippet("cannot lift the connection's write deadline").Len(); n != 1 {
		t.Fatalf("warned %d times about the deadline, want once", n)
	}
}
