package velox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// CacheBuilding is the X-Velox-Cache value of a 202 answer: the build goes on.
const CacheBuilding = "BUILDING"

// Pending is the library's "still building, come back later" answer (vxm_pending).
// Every field is the library's decision; the shim only writes them out.
type Pending struct {
	HTTPStatus        int    // 202
	RetryAfterSeconds int    // the Retry-After header
	Body              []byte // JSON: status, key, elapsed_ms, position
	Key               string
	PreferenceApplied bool // answer Preference-Applied: respond-async
}

// ResolveOrPending is Resolve for clients that can come back later: when the
// configuration's respond_after passes, or prefer (the request's Prefer header values)
// asks for respond-async, while the build is still running, it returns a Pending
// instead of an Artifact and the build goes on into the cache.
func (e *Engine) ResolveOrPending(ctx context.Context, request []byte, prefer string) (*Artifact, *Pending, error) {
	if err := e.enter(); err != nil {
		return nil, nil, err
	}
	defer e.calls.Done()
	if err := ctx.Err(); err != nil {
		return nil, nil, errCancelled()
	}
	var a artifactHandle
	var pending *Pending
	err := e.cancellable(ctx, func(c cancelHandle) (err error) {
		a, pending, err = resolveOrPending(e.h, request, prefer, c)
		return err
	})
	if err != nil || pending != nil {
		return nil, pending, err
	}
	defer artifactFree(a)
	art, err := newArtifact(a)
	return art, nil, err
}

// preferHeader joins the request's Prefer headers as RFC 7240 allows (one list).
func preferHeader(r *http.Request) string {
	return strings.Join(r.Header.Values("Prefer"), ",")
}

// answerPending writes the library's 202 answer in place of the worker's response.
func (p *Plugin) answerPending(w http.ResponseWriter, pd *Pending, took time.Duration) {
	p.log.Debug("build still running; answered 202",
		zap.String("key", pd.Key),
		zap.Int("retry_after", pd.RetryAfterSeconds),
		zap.Duration("waited", took),
	)
	h := w.Header()
	for _, k := range droppedWorkerHeaders {
		h.Del(k)
	}
	for _, k := range []string{"Content-Disposition", "ETag", "Last-Modified", "Accept-Ranges"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Velox-Cache", CacheBuilding)
	h.Set("Retry-After", strconv.Itoa(pd.RetryAfterSeconds))
	if pd.PreferenceApplied {
		h.Set("Preference-Applied", "respond-async")
	}
	w.WriteHeader(pd.HTTPStatus)
	_, _ = w.Write(append(pd.Body, '\n'))
}
