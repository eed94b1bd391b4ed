package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/velox-middleware/bench/internal/ratereport"
)

// ratePoint is an offered load below saturation: requests per second for one file size.
type ratePoint struct {
	Size int     `json:"size"`
	Rate float64 `json:"rate"`
}

// rateReport is what bench/cmd/fixedrate prints after ratereport.Prefix.
type rateReport = ratereport.Report

// rateResult is one fixed-rate point on one server over every round: medians of the runs,
// errors and timeouts summed, peak RSS the highest.
type rateResult struct {
	Server     string       `json:"server"`
	Size       int          `json:"size"`
	Rate       float64      `json:"rate"`
	Runs       []rateReport `json:"runs"`
	Achieved   float64      `json:"median_achieved_rate"`
	P50Us      float64      `json:"median_p50_us"`
	P99Us      float64      `json:"median_p99_us"`
	Errors     int          `json:"errors"`
	PeakRSSKiB int64        `json:"peak_rss_kib"`
	Err        string       `json:"error,omitempty"`
}

func (h *rateResult) add(r rateReport, peakKiB int64) {
	h.Runs = append(h.Runs, r)
	var ach, p50, p99 []float64
	h.Errors = 0
	for _, x := range h.Runs {
		ach = append(ach, x.Achieved)
		p50 = append(p50, x.P50Us)
		p99 = append(p99, x.P99Us)
		h.Errors += x.Errors + x.Timeouts
	}
	h.Achieved, h.P50Us, h.P99Us = median(ach), median(p50), median(p99)
	if peakKiB > h.PeakRSSKiB {
		h.PeakRSSKiB = peakKiB
	}
}

// runFixedRate offers rate requests per second of url for dur with bench/cmd/fixedrate.
func (d *driver) runFixedRate(url string, size int, rate float64, dur time.Duration) (rateReport, error) {
	const grace = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), dur+grace+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin("fixedrate"), "-url", url, "-rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"-duration", dur.String(), "-grace", grace.String(), "-size", strconv.Itoa(size))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return rateReport{}, fmt.Errorf("fixedrate %s at %g/s: %w: %s", url, rate, err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), ratereport.Prefix); ok {
			var r rateReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return rateReport{}, fmt.Errorf("fixedrate report %q: %w", rest, err)
			}
			return r, nil
		}
	}
	return rateReport{}, fmt.Errorf("fixedrate printed no report: %s", out.String())
}
