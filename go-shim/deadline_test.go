package velox

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/fakevelox"
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
