package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// httpResult is one point (a server, a file size, a concurrency) over every round: the
// runs as wrk reported them, and their medians (peak RSS: the highest of the runs).
type httpResult struct {
	Server     string      `json:"server"`
	Size       int         `json:"size"`
	Conns      int         `json:"conns"`
	Runs       []wrkReport `json:"runs"`
	RPS        float64     `json:"median_rps"`
	MiBps      float64     `json:"median_mib_per_s"`
	P50Us      float64     `json:"median_p50_us"`
	P99Us      float64     `json:"median_p99_us"`
	Errors     int64       `json:"errors"`
	PeakRSSKiB int64       `json:"peak_rss_kib"`
	Err        string      `json:"error,omitempty"`
}

// add records one run and recomputes the medians.
func (h *httpResult) add(w wrkReport, peakKiB int64) {
	h.Runs = append(h.Runs, w)
	var rps, mbps, p50, p99 []float64
	h.Errors = 0
	for _, r := range h.Runs {
		rps = append(rps, r.rps())
		mbps = append(mbps, r.mbps())
		p50 = append(p50, r.P50Us)
		p99 = append(p99, r.P99Us)
		h.Errors += r.errors()
	}
	h.RPS, h.MiBps, h.P50Us, h.P99Us = median(rps), median(mbps), median(p50), median(p99)
	if peakKiB > h.PeakRSSKiB {
		h.PeakRSSKiB = peakKiB
	}
}

// survivorMark is "†" when a run completed fewer than two requests per connection: then
// only the downloads that got more than their share of the bandwidth finished within the
// run, and wrk's percentiles (completed requests only) describe those.
func (h *httpResult) survivorMark() string {
	var reqs []float64
	for _, r := range h.Runs {
		reqs = append(reqs, float64(r.Requests))
	}
	if len(reqs) > 0 && median(reqs) < 2*float64(h.Conns) {
		return " †"
	}
	return ""
}

// missResult is N identical concurrent requests for a binary nobody has built yet.
type missResult struct {
	Server      string         `json:"server"`
	Clients     int            `json:"clients"`
	BuildDelay  time.Duration  `json:"build_delay"`
	Calls       int            `json:"upstream_calls"`
	Builds      int            `json:"upstream_builds"`
	Statuses    map[int]int    `json:"statuses"`
	CacheHeader map[string]int `json:"cache_headers"`
	Wall        time.Duration  `json:"wall"`
}

// buildURL is the PHP worker's route answering X-Velox-Build; the plugin tag makes the
// request (and so the cache key and the fake server's file size) unique per purpose.
func buildURL(addr, tag string) string {
	q := url.Values{}
	q.Set("rr", "v2025.1.15")
	q.Set("os", "linux")
	q.Set("arch", "amd64")
	q.Set("plugins", "github.com/roadrunner-server/http/v5@v5.3.0,github.com/velox-bench/payload/v2@"+tag)
	return "http://" + addr + "/build?" + q.Encode()
}

func sizeTag(size int) string { return fmt.Sprintf("v2.0.%d", size>>20) }

func (d *driver) startServer(name string) (*server, func(string, int) string, error) {
	switch name {
	case "velox-cgo", "velox-purego", "seed":
		binary := map[string]string{"velox-cgo": d.bin("rr"), "velox-purego": d.bin("rr-purego"), "seed": d.seed}[name]
		s, err := d.startRR(name, binary, rrParams{
			Middleware: "velox",
			ServerURL:  d.fake.URL,
			OutputDir:  d.fake.OutputDir,
			CacheDir:   filepath.Join(d.work, name, "cache"),
		})
		return s, func(addr string, size int) string { return buildURL(addr, sizeTag(size)) }, err
	case "static":
		s, err := d.startRR(name, d.bin("rr-static"), rrParams{Middleware: "static", StaticDir: d.files})
		return s, func(addr string, size int) string { return "http://" + addr + "/" + fileName(size) }, err
	case "servecontent":
		s, err := d.startServeContent()
		return s, func(addr string, size int) string { return "http://" + addr + "/" + fileName(size) }, err
	}
	return nil, nil, fmt.Errorf("unknown server %q", name)
}

// warm makes sure the URL serves the whole file (for velox: builds it once, then checks
// that the next answer is a cache hit), so that load runs only measure hits.
func (d *driver) warm(name, u string, size int) error {
	if isVelox(name) {
		if err := d.fake.SetMode(fakevelox.Mode{Size: size}); err != nil {
			return err
		}
	}
	if name == "seed" {
		return d.warmSeed(u, size)
	}
	want := map[bool]string{false: "", true: "HIT"}[isVelox(name)]
	var last string
	for i := 0; i < 2; i++ {
		status, n, cache, err := get(u, 60*time.Second)
		if err != nil {
			return err
		}
		if status != http.StatusOK || n != int64(size) {
			return fmt.Errorf("GET %s: status %d, %d bytes (%q), want 200 and %d", u, status, n, cache, size)
		}
		last = cache
	}
	if last != want {
		return fmt.Errorf("GET %s: X-Velox-Cache %q after warming, want %q", u, last, want)
	}
	return nil
}

func get(u string, limit time.Duration) (status int, n int64, cache string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		// Errors are short JSON: hand the body back in place of the cache header.
		body, err := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, int64(len(body)), string(body), err
	}
	n, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, resp.Header.Get("X-Velox-Cache"), err
}

// misses sends `clients` identical requests at once for a binary not built yet, while the
// fake server takes `delay` per build, and counts what reached the upstream.
func (d *driver) misses(server, addr string, clients int) (*missResult, error) {
	const delay = 2 * time.Second
	if err := d.fake.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: delay, Size: 1 << 20}); err != nil {
		return nil, err
	}
	defer func() { _ = d.fake.SetMode(fakevelox.Mode{}) }()
	before := d.fake.Stats()
	// A tag of its own per server, so that each one misses.
	u := buildURL(addr, map[string]string{"velox-cgo": "v2.9.9", "seed": "v2.9.8"}[server])
	m := &missResult{Server: server, Clients: clients, BuildDelay: delay,
		Statuses: map[int]int{}, CacheHeader: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, cache, err := get(u, 60*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				m.Statuses[-1]++
				return
			}
			m.Statuses[status]++
			m.CacheHeader[cache]++
		}()
	}
	wg.Wait()
	m.Wall = time.Since(start)
	after := d.fake.Stats()
	m.Calls = after.Calls - before.Calls
	m.Builds = after.Builds - before.Builds
	fmt.Printf("benchrun: %s: %d concurrent misses: %d upstream calls, %d builds, %s, statuses %v, X-Velox-Cache %v\n",
		server, clients, m.Calls, m.Builds, m.Wall.Round(time.Millisecond), m.Statuses, m.CacheHeader)
	return m, nil
}
