package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkReport is what bench/wrk-report.lua prints on one line after "WRKJSON ".
type wrkReport struct {
	Requests   int64   `json:"requests"`
	DurationUs int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	ErrConnect int64   `json:"errors_connect"`
	ErrRead    int64   `json:"errors_read"`
	ErrWrite   int64   `json:"errors_write"`
	ErrStatus  int64   `json:"errors_status"`
	ErrTimeout int64   `json:"errors_timeout"`
	P50Us      float64 `json:"p50_us"`
	P90Us      float64 `json:"p90_us"`
	P99Us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	MeanUs     float64 `json:"mean_us"`
}

func (r wrkReport) errors() int64 {
	return r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrStatus + r.ErrTimeout
}

func (r wrkReport) rps() float64 {
	if r.DurationUs == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUs) / 1e6)
}

func (r wrkReport) mbps() float64 {
	if r.DurationUs == 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / (float64(r.DurationUs) / 1e6)
}

// runWrk runs wrk against url for dur at concurrency conns and parses its report.
// Threads: at most one per core (2 here) and never more than connections.
func (d *driver) runWrk(url string, conns int, dur time.Duration) (wrkReport, error) {
	threads := 2
	if conns < threads {
		threads = conns
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(dur.Seconds())), "--timeout", "60s",
		"-s", d.wrkScript, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	_ = os.WriteFile(filepath.Join(d.work, "wrk-last.txt"), out.Bytes(), 0o644)
	if err != nil {
		return wrkReport{}, fmt.Errorf("wrk %s -c %d: %w: %s", url, conns, err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "WRKJSON "); ok {
			var r wrkReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return wrkReport{}, fmt.Errorf("wrk report %q: %w", rest, err)
			}
			return r, nil
		}
	}
	return wrkReport{}, fmt.Errorf("wrk printed no report: %s", out.String())
}
