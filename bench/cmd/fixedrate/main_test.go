package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One 400 ms stall of a server that answers one request at a time, loaded at 50/s with a
// single request in flight: every request scheduled during the stall is late, and each
// must count it (latency from the scheduled time). Measuring from the actual send, or
// waiting for answers before scheduling the next request, would see one slow request.
func TestLatencyCountsFromTheScheduledTime(t *testing.T) {
	var mu sync.Mutex
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n.Add(1) == 10 {
			time.Sleep(400 * time.Millisecond)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	r := run(srv.URL, 50, time.Second, 1, 10*time.Second, 2)
	if r.Scheduled != 50 || r.Completed != 50 || r.Errors != 0 || r.Timeouts != 0 {
		t.Fatalf("scheduled %d, completed %d, errors %d (%s), timeouts %d; want 50 completed",
			r.Scheduled, r.Completed, r.Errors, r.FirstError, r.Timeouts)
	}
	// ~20 requests are scheduled during the stall: p90 sees it, p50 does not.
	if r.P90Us < 100_000 || r.MaxUs < 300_000 {
		t.Fatalf("p90 %.0f µs, max %.0f µs: the stall was not counted for the requests it delayed", r.P90Us, r.MaxUs)
	}
	if r.P50Us > 100_000 {
		t.Fatalf("p50 %.0f µs: one stall should not move the median", r.P50Us)
	}
}

// A body of the wrong size is an error, named.
func TestWrongSizeIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("short"))
	}))
	defer srv.Close()
	r := run(srv.URL, 20, 200*time.Millisecond, 4, 5*time.Second, 10)
	if r.Errors != r.Scheduled || r.Completed != 0 || r.FirstError != "body of 5 bytes, want 10" {
		t.Fatalf("errors %d of %d, completed %d, first error %q", r.Errors, r.Scheduled, r.Completed, r.FirstError)
	}
}
