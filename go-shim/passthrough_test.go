package velox

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// passThroughServer runs the middleware without an engine: responses without
// X-Velox-Build must never need one.
func passThroughServer(t *testing.T, worker http.Handler) *httptest.Server {
	t.Helper()
	p := &Plugin{log: zap.NewNop()}
	srv := httptest.NewServer(p.Middleware(worker))
	t.Cleanup(srv.Close)
	return srv
}

func TestPassThroughKeepsStatusHeadersAndBody(t *testing.T) {
	srv := passThroughServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Worker", "php")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "short and stout")
	}))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(body) != "short and stout" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Worker") != "php" || len(resp.Header.Values("Set-Cookie")) != 2 {
		t.Fatalf("headers changed: %v", resp.Header)
	}
	if resp.Header.Get(HeaderCache) != "" {
		t.Fatalf("pass-through response carries %s", HeaderCache)
	}
}

func TestPassThroughWithoutWritesLetsNetHTTPAnswer(t *testing.T) {
	srv := passThroughServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Only-Header", "yes")
	}))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Only-Header") != "yes" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
}

// The client must receive each flushed chunk while the worker is still running: the
// seed plugin buffered whole responses, this middleware must not.
func TestPassThroughStreamsFlushedChunksBeforeTheHandlerReturns(t *testing.T) {
	const chunks = 3
	next := make(chan struct{})
	srv := passThroughServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; i < chunks; i++ {
			_, _ = io.WriteString(w, "chunk\n")
			if i%2 == 0 {
				if err := rc.Flush(); err != nil {
					t.Errorf("ResponseController.Flush: %v", err)
				}
			} else {
				w.(http.Flusher).Flush()
			}
			select {
			case <-next: // the client has read this chunk
			case <-time.After(10 * time.Second):
				t.Error("client never read a flushed chunk: the response is buffered")
				return
			}
		}
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.Header.Get("Content-Length") != "" {
		t.Fatalf("streamed response got a Content-Length: it was buffered")
	}
	r := bufio.NewReader(resp.Body)
	for i := 0; i < chunks; i++ {
		line, err := r.ReadString('\n')
		if err != nil || line != "chunk\n" {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
		next <- struct{}{}
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("unexpected trailing bytes %q", rest)
	}
}

func TestPassThroughKeepsReadFromForFileServers(t *testing.T) {
	rec := httptest.NewRecorder()
	c := newCapture(rec, maxBody(t))
	n, err := c.ReadFrom(strings.NewReader("from a reader"))
	if err != nil || n != 13 || rec.Body.String() != "from a reader" || rec.Code != http.StatusOK {
		t.Fatalf("ReadFrom: n=%d err=%v body=%q code=%d", n, err, rec.Body.String(), rec.Code)
	}
}

func TestCaptureHoldsBackEverythingOnceTheBuildHeaderIsSet(t *testing.T) {
	rec := httptest.NewRecorder()
	c := newCapture(rec, 8)
	c.Header().Set(HeaderBuild, "1")
	c.WriteHeader(http.StatusAccepted)
	_, _ = c.Write([]byte("{\"a\":"))
	c.Flush()
	_, _ = c.Write([]byte("1}"))
	if rec.Flushed || rec.Body.Len() != 0 {
		t.Fatalf("a build response leaked to the client: flushed=%v body=%q", rec.Flushed, rec.Body.String())
	}
	if !c.build || string(c.body) != "{\"a\":1}" || c.tooBig {
		t.Fatalf("capture: build=%v body=%q tooBig=%v", c.build, c.body, c.tooBig)
	}
	_, _ = c.Write([]byte("overflow"))
	if !c.tooBig {
		t.Fatal("a body over the limit was not flagged")
	}
}
