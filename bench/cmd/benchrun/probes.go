package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// behaviour is what one server does with requests other than a plain GET of a hit: when
// the first byte of an ordinary streamed PHP response arrives, and whether a cached binary
// honours Range, conditional requests and HEAD.
type behaviour struct {
	Server string `json:"server"`
	// The PHP worker streams 5 frames 300 ms apart (/stream): a middleware that passes the
	// stream through delivers the first byte after ~0 ms, one that buffers after ~1.2 s.
	TTFBMs  float64 `json:"stream_ttfb_ms"`
	TotalMs float64 `json:"stream_total_ms"`
	// Range: bytes=0-1023 of the 1 MiB binary: status and body length.
	Range string `json:"range"`
	// The ETag of a full GET, and the status of a GET with If-None-Match: that ETag.
	ETag        string `json:"etag"`
	Conditional string `json:"if_none_match"`
	// HEAD: status, Content-Length and body bytes.
	Head string `json:"head"`
	Err  string `json:"error,omitempty"`
}

const (
	streamFrames  = 5
	streamDelayMs = 300
)

// probe measures the behaviour of a velox server (ours or the seed) on its 1 MiB hit.
func probe(name, addr, hitURL string) behaviour {
	b := behaviour{Server: name}
	ttfb, total, err := streamTTFB(fmt.Sprintf("http://%s/stream?chunks=%d&size=100&delay_ms=%d", addr, streamFrames, streamDelayMs))
	if err != nil {
		b.Err = "stream: " + shortErr(err)
	}
	b.TTFBMs, b.TotalMs = ms(ttfb), ms(total)

	resp, body, err := do(http.MethodGet, hitURL, map[string]string{"Range": "bytes=0-1023"})
	if err != nil {
		b.Err += " range: " + shortErr(err)
		return b
	}
	b.Range = fmt.Sprintf("%d, %d bytes", resp.StatusCode, body)

	resp, _, err = do(http.MethodGet, hitURL, nil)
	if err != nil {
		b.Err += " get: " + shortErr(err)
		return b
	}
	b.ETag = resp.Header.Get("ETag")
	if b.ETag == "" {
		b.Conditional = "no ETag to send"
	} else if resp, body, err = do(http.MethodGet, hitURL, map[string]string{"If-None-Match": b.ETag}); err == nil {
		b.Conditional = fmt.Sprintf("%d, %d bytes", resp.StatusCode, body)
	}

	if resp, body, err = do(http.MethodHead, hitURL, nil); err == nil {
		b.Head = fmt.Sprintf("%d, Content-Length %s, %d body bytes", resp.StatusCode, resp.Header.Get("Content-Length"), body)
	}
	fmt.Printf("benchrun: %s: stream first byte %.0f ms of %.0f ms; Range %s; ETag %q, If-None-Match %s; HEAD %s\n",
		name, b.TTFBMs, b.TotalMs, b.Range, b.ETag, b.Conditional, b.Head)
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// streamTTFB is the time to the first body byte and to the end of the body of a GET.
func streamTTFB(u string) (ttfb, total time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	one := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, one); err != nil {
		return 0, 0, err
	}
	ttfb = time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	total = time.Since(start)
	if err == nil && !strings.Contains(string(rest), fmt.Sprintf("chunk %d", streamFrames-1)) {
		err = fmt.Errorf("stream ended before its last frame (%d bytes)", len(rest)+1)
	}
	return ttfb, total, err
}

// do sends one request and counts the body bytes.
func do(method, u string, headers map[string]string) (*http.Response, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp, n, err
}
