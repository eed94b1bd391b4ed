// Command progress is a diagnostic for fairness between concurrent downloads: it keeps -c
// keep-alive connections downloading one URL over and over for -duration, samples every
// connection's received bytes every -interval, and prints how evenly the bandwidth was
// shared: per-connection totals, Jain's fairness index, how often a connection received
// nothing during a whole interval (a stall), the longest stall, and the latency of the
// completed downloads. Used to find where the tail latency of big files at saturation
// comes from (docs/decisions/2026-11-29-tail-latency.md); not part of `make bench`.
//
//	progress -url http://127.0.0.1:8080/x -c 64 -duration 8s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type summary struct {
	Conns          int     `json:"conns"`
	Completed      int     `json:"completed"`
	MiBps          float64 `json:"mib_per_s"`
	PerConnMinMiB  float64 `json:"per_conn_min_mib"`
	PerConnMedMiB  float64 `json:"per_conn_median_mib"`
	PerConnMaxMiB  float64 `json:"per_conn_max_mib"`
	Jain           float64 `json:"jain_index"`
	StalledShare   float64 `json:"stalled_interval_share"`
	LongestStallMs float64 `json:"longest_stall_ms"`
	P99StallMs     float64 `json:"p99_conn_longest_stall_ms"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
}

func main() {
	url := flag.String("url", "", "URL to download")
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("duration", 8*time.Second, "how long")
	interval := flag.Duration("interval", 250*time.Millisecond, "sampling interval")
	flag.Parse()
	if *url == "" || *conns < 1 || *dur <= 0 || *interval <= 0 {
		fmt.Fprintln(os.Stderr, "progress: -url, -c, -duration and -interval are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	counters := make([]atomic.Int64, *conns)
	var mu sync.Mutex
	var latencies []float64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(c *atomic.Int64) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}}
			buf := make([]byte, 256<<10)
			for ctx.Err() == nil {
				t := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				for {
					n, err := resp.Body.Read(buf)
					c.Add(int64(n))
					if err == io.EOF {
						mu.Lock()
						latencies = append(latencies, float64(time.Since(t).Microseconds())/1000)
						mu.Unlock()
						break
					}
					if err != nil {
						break
					}
				}
				_ = resp.Body.Close()
			}
		}(&counters[i])
	}
	// Sample until the deadline: rows[t][conn] = bytes received in interval t.
	var rows [][]int64
	prev := make([]int64, *conns)
	tick := time.NewTicker(*interval)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			row := make([]int64, *conns)
			for i := range counters {
				v := counters[i].Load()
				row[i], prev[i] = v-prev[i], v
			}
			rows = append(rows, row)
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	wg.Wait()

	s := summary{Conns: *conns, Completed: len(latencies)}
	totals := make([]float64, *conns)
	var sum, sumSq float64
	for i := range counters {
		totals[i] = float64(prev[i]) / (1 << 20)
		sum += totals[i]
		sumSq += totals[i] * totals[i]
	}
	s.MiBps = sum / elapsed.Seconds()
	if sumSq > 0 {
		s.Jain = sum * sum / (float64(*conns) * sumSq)
	}
	sort.Float64s(totals)
	s.PerConnMinMiB, s.PerConnMedMiB, s.PerConnMaxMiB = totals[0], totals[len(totals)/2], totals[len(totals)-1]
	// Stalls: intervals in which a connection received nothing (the first second, while
	// connections open, is skipped).
	skip := int(time.Second / *interval)
	var stalled, cells int
	longest := make([]float64, *conns)
	for i := 0; i < *conns; i++ {
		run := 0
		for t := skip; t < len(rows); t++ {
			cells++
			if rows[t][i] == 0 {
				stalled++
				run++
				if ms := float64(run) * float64(interval.Milliseconds()); ms > longest[i] {
					longest[i] = ms
				}
			} else {
				run = 0
			}
		}
	}
	if cells > 0 {
		s.StalledShare = float64(stalled) / float64(cells)
	}
	sort.Float64s(longest)
	s.LongestStallMs = longest[len(longest)-1]
	s.P99StallMs = longest[int(float64(len(longest)-1)*0.99)]
	sort.Float64s(latencies)
	if n := len(latencies); n > 0 {
		s.P50Ms, s.P99Ms, s.MaxMs = latencies[n/2], latencies[int(float64(n-1)*0.99)], latencies[n-1]
	}
	b, _ := json.Marshal(s)
	fmt.Printf("PROGRESS %s\n", b)
}
