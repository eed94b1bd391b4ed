// Command fixedrate is an open-loop load generator: it sends GET requests for one URL at a
// fixed offered rate, whatever the server's answers take, and measures each request's latency
// from the time it was scheduled to be sent, not from when it was actually sent. A closed-loop
// tool (wrk) waits for an answer before sending the next request on a connection, so a
// stalled server is asked less and its stall is counted once ("coordinated omission");
// here a stall delays every request scheduled during it, and each of them counts it.
//
//	fixedrate -url http://127.0.0.1:8080/x -rate 300 -duration 10s
//
// The run is bounded: rate × duration requests at most, at most -max-inflight at once
// (a request scheduled while the limit is reached waits, its latency still counted from its
// schedule), and everything still open -grace after the last scheduled send is cancelled
// and counted as a timeout. It prints one line: "FIXEDRATE {json}".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/velox-middleware/bench/internal/ratereport"
)

// result is the report with what the run was asked for and what it received.
type result struct {
	URL        string  `json:"url"`
	Rate       float64 `json:"offered_rate"`
	DurationUs int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	ratereport.Report
}

func main() {
	url := flag.String("url", "", "URL to GET")
	rate := flag.Float64("rate", 100, "requests per second offered")
	dur := flag.Duration("duration", 10*time.Second, "how long to offer load")
	maxInflight := flag.Int("max-inflight", 512, "requests open at once, at most")
	grace := flag.Duration("grace", 60*time.Second, "how long to wait for open requests after the last send")
	wantSize := flag.Int64("size", -1, "expected body size (a different size counts as an error); -1: any")
	flag.Parse()
	if *url == "" || *rate <= 0 || *dur <= 0 || *maxInflight <= 0 {
		fmt.Fprintln(os.Stderr, "fixedrate: -url, a positive -rate, -duration and -max-inflight are required")
		os.Exit(2)
	}
	r := run(*url, *rate, *dur, *maxInflight, *grace, *wantSize)
	b, _ := json.Marshal(r)
	fmt.Printf("%s%s\n", ratereport.Prefix, b)
}

func run(url string, rate float64, dur time.Duration, maxInflight int, grace time.Duration, wantSize int64) result {
	n := int(rate * dur.Seconds())
	if n < 1 {
		n = 1
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        maxInflight,
		MaxIdleConnsPerHost: maxInflight,
		DisableCompression:  true,
	}}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	// Whatever is still open at the deadline is cancelled: the run always ends.
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(dur+grace))
	defer cancel()

	var (
		mu        sync.Mutex
		latencies []float64
		lags      []float64
		res       = result{URL: url, Rate: rate, Report: ratereport.Report{Scheduled: n}}
		wg        sync.WaitGroup
		slots     = make(chan struct{}, maxInflight)
	)
	for i := 0; i < n; i++ {
		sched := start.Add(time.Duration(i) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				res.Timeouts++
				mu.Unlock()
				return
			}
			defer func() { <-slots }()
			lag := time.Since(sched)
			got, err := fetch(ctx, client, url, wantSize)
			lat := time.Since(sched)
			mu.Lock()
			defer mu.Unlock()
			lags = append(lags, float64(lag.Microseconds()))
			res.Bytes += got
			switch {
			case err == nil:
				res.Completed++
				latencies = append(latencies, float64(lat.Microseconds()))
			case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
				res.Timeouts++
			default:
				res.Errors++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.DurationUs = elapsed.Microseconds()
	res.Achieved = float64(res.Completed) / elapsed.Seconds()
	sort.Float64s(latencies)
	sort.Float64s(lags)
	res.P50Us, res.P90Us, res.P99Us = pct(latencies, 50), pct(latencies, 90), pct(latencies, 99)
	if len(latencies) > 0 {
		res.MaxUs = latencies[len(latencies)-1]
	}
	res.SendLagP99Us = pct(lags, 99)
	return res
}

// fetch GETs url and reads the whole body; a non-200 answer or a short body is an error.
func fetch(ctx context.Context, client *http.Client, url string, wantSize int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	if wantSize >= 0 && n != wantSize {
		return n, fmt.Errorf("body of %d bytes, want %d", n, wantSize)
	}
	return n, nil
}

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
