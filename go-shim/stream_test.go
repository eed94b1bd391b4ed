package velox

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Exercises stream.go alone (no library): a regular file served as an artifact. Run
// under `strace -f -e trace=sendfile` to see net/http's sendfile path taken.
func TestServeArtifactSendsTheWholeFileWithItsHeaders(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	srv := artifactServer(t, content, "c0ffee", func(w http.ResponseWriter) http.ResponseWriter {
		w.Header().Set("Content-Type", "application/json") // the worker's, must be replaced
		return w
	})
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes (err %v), want %d identical", len(got), err, len(content))
	}
	if resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get(HeaderCache) != "JOINED" ||
		resp.Header.Get("Etag") != `"c0ffee"` || resp.ContentLength != int64(len(content)) {
		t.Fatalf("headers: %v", resp.Header)
	}
}

func TestBinaryFileNameIsSafeAndNamesThePlatform(t *testing.T) {
	cases := map[string]string{
		`{"rr_version":"v2025.1.5","target_platform":{"os":"linux","arch":"amd64"}}`:   "rr-v2025.1.5-linux-amd64",
		`{"rr_version":"v2025.1.5","target_platform":{"os":"windows","arch":"arm64"}}`: "rr-v2025.1.5-windows-arm64.exe",
		`{"rr_version":"v1\"; x=\"y","target_platform":{"os":"linux","arch":"amd64"}}`: "rr-v1xy-linux-amd64",
		`not json`: "rr",
	}
	for body, want := range cases {
		if got := binaryFileName([]byte(body)); got != want {
			t.Errorf("binaryFileName(%s) = %q, want %q", body, got, want)
		}
	}
}

// artifactServer serves content, written to a real file, as a joined artifact through
// serveArtifact for every request; wrap sees (and may replace) each response writer first.
func artifactServer(t *testing.T, content []byte, sha256 string, wrap func(http.ResponseWriter) http.ResponseWriter) *httptest.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = f.Close() }()
		a := &Artifact{File: f, Size: int64(len(content)), Key: "k", SHA256: sha256, Source: SourceJoined}
		serveArtifact(wrap(w), r, a, "rr-x")
	}))
}
