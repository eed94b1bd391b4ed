package velox

import (
	"io"
	"net/http"
	"sync/atomic"
)

// countingWriter counts the body bytes written to a client. It forwards ReadFrom so
// that http.ServeContent still reaches net/http's sendfile path (see serveArtifact).
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

func (c countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
	}
	c.n.Add(uint64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (c countingWriter) Unwrap() http.ResponseWriter {
	return c.ResponseWriter
}
