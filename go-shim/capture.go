package velox

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// HeaderBuild is the response header by which a worker asks for a build.
const HeaderBuild = "X-Velox-Build"

// capture is the ResponseWriter the worker writes to. It decides when the worker's
// headers are written (WriteHeader, or the first Write or Flush): without
// X-Velox-Build everything goes straight to the client, unbuffered; with it nothing
// is written and the body is kept (up to limit bytes) as the build request.
//
// The worker writes its headers into the client writer's header map; in build mode
// the middleware later edits that map rather than copying it.
type capture struct {
	w       http.ResponseWriter
	limit   int
	decided bool
	build   bool
	body    []byte
	tooBig  bool
}

func newCapture(w http.ResponseWriter, limit int) *capture {
	return &capture{w: w, limit: limit}
}

func (c *capture) Header() http.Header { return c.w.Header() }

func (c *capture) WriteHeader(code int) {
	if c.decided {
		if !c.build {
			c.w.WriteHeader(code) // let net/http report a superfluous call as usual
		}
		return
	}
	build := c.w.Header().Get(HeaderBuild) != ""
	if !build && code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) precede the real one.
		c.w.WriteHeader(code)
		return
	}
	c.decided, c.build = true, build
	if !build {
		c.w.WriteHeader(code)
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if !c.build {
		return c.w.Write(p)
	}
	if c.tooBig {
		return len(p), nil
	}
	if len(c.body)+len(p) > c.limit {
		// Keep accepting so the worker is released as usual; the request is refused later.
		c.tooBig, c.body = true, nil
		return len(p), nil
	}
	c.body = append(c.body, p...)
	return len(p), nil
}

// WriteString lets io.WriteString skip a copy in pass-through mode.
func (c *capture) WriteString(s string) (int, error) {
	if c.decided && !c.build {
		if sw, ok := c.w.(interface{ WriteString(string) (int, error) }); ok {
			return sw.WriteString(s)
		}
	}
	return c.Write([]byte(s))
}

// ReadFrom keeps the client connection's fast path (sendfile) for handlers that copy
// from files in pass-through mode, such as a static file server inside this middleware.
func (c *capture) ReadFrom(src io.Reader) (int64, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if !c.build {
		if rf, ok := c.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(src)
		}
		return io.Copy(c.w, src)
	}
	return io.Copy(struct{ io.Writer }{c}, src) // the struct hides ReadFrom: no recursion
}

// Flush sends what the worker wrote so far (pass-through); in build mode there is
// nothing to send yet.
func (c *capture) Flush() { _ = c.FlushError() }

// FlushError is what http.ResponseController calls.
func (c *capture) FlushError() error {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if c.build {
		return nil
	}
	return http.NewResponseController(c.w).Flush()
}

// Hijack hands the connection over in pass-through mode (a worker upgrading the
// connection never asks for a build).
func (c *capture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.decided && c.build {
		return nil, nil, http.ErrNotSupported
	}
	return http.NewResponseController(c.w).Hijack()
}

// Unwrap gives http.ResponseController the client's writer (deadlines, full duplex).
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

// decideIfSilent settles a worker that returned without writing anything: if it only
// set X-Velox-Build in the header map, that is still a build request (with an empty
// body); otherwise net/http finishes the response as it would without us.
func (c *capture) decideIfSilent() {
	if !c.decided && c.w.Header().Get(HeaderBuild) != "" {
		c.decided, c.build = true, true
	}
}
