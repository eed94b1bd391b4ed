package velox

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// readFromRecorder is a ResponseWriter with a ReadFrom, like net/http's own, that
// records what it was handed.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readers []io.Reader
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readers = append(r.readers, src)
	return io.Copy(r.ResponseRecorder, src)
}

// net/http's sendfile path needs the *os.File to reach the connection's ReadFrom
// (inside an io.LimitedReader at most): counting must not hide it.
func TestCountingKeepsTheSendfilePathAndCountsTheBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bin")
	content := make([]byte, 100_000)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()

	rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	var n atomic.Uint64
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Range", "bytes=10-")
	serveArtifact(countingWriter{rec, &n}, req, &Artifact{File: f, Size: int64(len(content)), Key: "k"}, "rr")

	if rec.Code != http.StatusPartialContent || n.Load() != uint64(len(content)-10) {
		t.Fatalf("status %d, counted %d", rec.Code, n.Load())
	}
	if len(rec.readers) != 1 {
		t.Fatalf("ReadFrom called %d times", len(rec.readers))
	}
	src := rec.readers[0]
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	if _, ok := src.(*os.File); !ok {
		t.Fatalf("ReadFrom got a %T, not the file", src)
	}
}
