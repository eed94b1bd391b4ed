package velox

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// MaxRequestBody is the largest build request (after gzip decoding) the library
// accepts (vxm_request_max_bytes): the shim reads no more of a worker's body than that.
// 0 before the library is loaded.
func MaxRequestBody() int {
	if !libraryLoaded() {
		return 0
	}
	return requestMaxBytes()
}

// Middleware hands every request to next (the PHP worker). Responses without
// X-Velox-Build pass through untouched; a build request is resolved once the worker
// has returned (the worker is free during the build) and the binary is streamed.
func (p *Plugin) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := newCapture(w, p.maxBody)
		next.ServeHTTP(c, r)
		c.decideIfSilent()
		if !c.build {
			return
		}
		p.handleBuild(w, r, c)
	})
}

func (p *Plugin) handleBuild(w http.ResponseWriter, r *http.Request, c *capture) {
	if p.engine == nil { // Init failed or never ran; RoadRunner would not route here
		p.fail(w, r, errShuttingDown(), 0)
		return
	}
	body, bad := buildRequestBody(c, w.Header().Get("Content-Encoding"), p.maxBody)
	if bad != nil {
		p.fail(w, r, bad, 0)
		return
	}
	p.liftDeadline(w) // deadline.go: RoadRunner's WriteTimeout must not cut a long build
	start := time.Now()
	a, pending, err := p.engine.ResolveOrPending(r.Context(), body, preferHeader(r))
	if err != nil {
		answerDeadline(w, r, 0)
		p.fail(w, r, err, time.Since(start))
		return
	}
	if pending != nil { // async.go: 202, the build goes on
		answerDeadline(w, r, 0)
		p.answerPending(w, pending, time.Since(start))
		return
	}
	answerDeadline(w, r, a.Size)
	defer func() { _ = a.File.Close() }()
	p.log.Debug("serving binary",
		zap.String("key", a.Key),
		zap.String("cache", a.Source.CacheHeader()),
		zap.Int64("size", a.Size),
		zap.Duration("resolve", time.Since(start)),
		zap.String("range", r.Header.Get("Range")),
		zap.String("method", r.Method),
	)
	serveArtifact(countingWriter{w, &p.served}, r, a, binaryFileName(body))
}

// fail answers with the library's HTTP status and a JSON body, unless the client has
// gone, in which case nothing is written.
func (p *Plugin) fail(w http.ResponseWriter, r *http.Request, err error, took time.Duration) {
	var e *Error
	if !asError(err, &e) {
		e = libraryError(StatusIO, err.Error())
	}
	if r.Context().Err() != nil || e.Status == StatusCancelled {
		p.log.Debug("client went away before the binary was ready", zap.Duration("waited", took))
		return
	}
	log := p.log.Warn
	if e.HTTPStatus >= 500 {
		log = p.log.Error
	}
	log("build request failed",
		zap.String("code", e.Code),
		zap.Int("status", e.HTTPStatus),
		zap.String("error", e.Message),
		zap.Duration("waited", took),
	)
	dropWorkerFileHeaders(w.Header())
	writeError(w, e)
}

// dropWorkerFileHeaders removes, before an answer that is not the binary (an error, a
// 202), the worker headers that described the build request and those it set for the
// file: they must not describe that answer instead.
func dropWorkerFileHeaders(h http.Header) {
	for _, k := range droppedWorkerHeaders {
		h.Del(k)
	}
	for _, k := range []string{"Content-Disposition", "ETag", "Last-Modified", "Accept-Ranges"} {
		h.Del(k)
	}
}

// buildRequestBody returns the worker's JSON, gzip-decoded when the worker (or a gzip
// middleware between it and us) compressed it.
func buildRequestBody(c *capture, encoding string, limit int) ([]byte, *Error) {
	if c.tooBig {
		return nil, errBadBody(fmt.Sprintf("body: the build request exceeds %d bytes", limit))
	}
	encoding = strings.ToLower(strings.TrimSpace(encoding))
	gzipped := encoding == "gzip" || encoding == "x-gzip" ||
		(encoding == "" && len(c.body) >= 2 && c.body[0] == 0x1f && c.body[1] == 0x8b)
	switch {
	case gzipped:
		zr, err := gzip.NewReader(bytes.NewReader(c.body))
		if err != nil {
			return nil, errBadBody("body: gzip: " + err.Error())
		}
		out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
		if err != nil {
			return nil, errBadBody("body: gzip: " + err.Error())
		}
		if len(out) > limit {
			return nil, errBadBody(fmt.Sprintf("body: the decoded build request exceeds %d bytes", limit))
		}
		return out, nil
	case encoding == "" || encoding == "identity":
		return c.body, nil
	default:
		return nil, errBadBody("body: unsupported Content-Encoding " + encoding)
	}
}
