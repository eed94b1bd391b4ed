package velox

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
)

// pieceRecorder sits between serveArtifact and net/http's writer and records every body
// piece handed to ReadFrom, then passes it on (so the real sendfile path still runs).
type pieceRecorder struct {
	http.ResponseWriter
	mu     sync.Mutex
	pieces []int64 // the limit of each piece; -1: not a file piece (no sendfile possible)
}

func (p *pieceRecorder) ReadFrom(src io.Reader) (int64, error) {
	size := int64(-1)
	if lr, ok := src.(*io.LimitedReader); ok {
		if _, isFile := lr.R.(*os.File); isFile {
			size = lr.N
		}
	}
	p.mu.Lock()
	p.pieces = append(p.pieces, size)
	p.mu.Unlock()
	return p.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

// A cached binary leaves in pieces of at most sendfileChunk, each still a file piece that
// net.TCPConn can send with sendfile, and arrives whole; a Range inside it too.
func TestServeArtifactSendsBoundedSendfilePieces(t *testing.T) {
	size := 3*sendfileChunk + 123
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i * 7)
	}
	rec := &pieceRecorder{}
	srv := artifactServer(t, content, "", func(w http.ResponseWriter) http.ResponseWriter {
		rec.ResponseWriter = w
		return rec
	})
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes (err %v), want %d identical", len(got), err, size)
	}
	if len(rec.pieces) < 4 {
		t.Fatalf("body went out in %d piece(s) %v, want at least 4 of at most %d bytes", len(rec.pieces), rec.pieces, sendfileChunk)
	}
	for _, n := range rec.pieces {
		if n < 0 || n > sendfileChunk {
			t.Fatalf("pieces %v: want file pieces (sendfile) of at most %d bytes", rec.pieces, sendfileChunk)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	from, to := sendfileChunk-10, 2*sendfileChunk+10
	req.Header.Set("Range", "bytes="+itoa(from)+"-"+itoa(to))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, content[from:to+1]) {
		t.Fatalf("range: status %d, %d bytes (err %v), want 206 and %d identical", resp.StatusCode, len(got), err, to-from+1)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
