package velox

import (
	"io"
	"net/http"
	"runtime"
)

// sendfileChunk bounds the bytes one sendfile(2) call may move for a cached binary.
// net/http hands sendfile the whole remaining length; on loopback (and any fast path with
// large socket buffers) one call then copied up to 50 MiB while other downloads waited, so
// under overload a few connections took most of the bandwidth and the slowest finished
// late (docs/decisions/2026-11-29-tail-latency.md has the measurements).
// 256 KiB: per-connection shares evened out (Jain's index 0.85 -> 0.98) with no loss of
// throughput; 1 MiB helped less. A var only so that tests can read it.
var sendfileChunk int64 = 256 << 10

// fairWriter sends a file body in sendfileChunk pieces, each still by sendfile (the
// piece is an *io.LimitedReader over the *os.File, which net.TCPConn.ReadFrom accepts),
// and yields the processor between pieces so that the other downloads get their turn.
type fairWriter struct {
	http.ResponseWriter
}

func (f fairWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := f.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{f.ResponseWriter}, src)
	}
	lr, ok := src.(*io.LimitedReader)
	if !ok || sendfileChunk <= 0 {
		return rf.ReadFrom(src)
	}
	var total int64
	for lr.N > 0 {
		piece := &io.LimitedReader{R: lr.R, N: min(lr.N, sendfileChunk)}
		n, err := rf.ReadFrom(piece)
		total += n
		lr.N -= n
		if err != nil || n == 0 {
			return total, err
		}
		runtime.Gosched()
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (f fairWriter) Unwrap() http.ResponseWriter {
	return f.ResponseWriter
}
