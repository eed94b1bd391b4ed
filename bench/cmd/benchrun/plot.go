package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// writePlot draws throughput and p99 latency against concurrency, one row per file size,
// with gnuplot (Debian gnuplot-nox).
func writePlot(work, png string, r *report) error {
	if _, err := exec.LookPath("gnuplot"); err != nil {
		return fmt.Errorf("gnuplot not installed (make deps installs gnuplot-nox)")
	}
	var script strings.Builder
	fmt.Fprintf(&script, "set terminal pngcairo size 1200,900 font 'sans,10'\nset output '%s'\n", png)
	fmt.Fprintf(&script, "set multiplot layout %d,2 title 'cache hits over HTTP (wrk, median of %d × %s per point)'\n",
		len(r.plan.sizes), r.plan.rounds, r.plan.dur)
	script.WriteString("set logscale x 2\nset xlabel 'concurrency (connections)'\nset grid\nset key top left font ',9'\n")
	var xt []string
	for _, c := range r.plan.conns {
		xt = append(xt, fmt.Sprintf("'%d' %d", c, c))
	}
	fmt.Fprintf(&script, "set xtics (%s)\nset xrange [%g:%g]\n", strings.Join(xt, ", "),
		float64(r.plan.conns[0])*0.8, float64(r.plan.conns[len(r.plan.conns)-1])*1.25)
	for _, size := range r.plan.sizes {
		var files []string
		for _, s := range r.plan.servers {
			var rows strings.Builder
			for _, c := range r.plan.conns {
				if h := r.find(s, size, c); h != nil && len(h.Runs) > 0 {
					fmt.Fprintf(&rows, "%d %f %f %f\n", c, h.MiBps, h.P99Us/1000, h.RPS)
				}
			}
			f := filepath.Join(work, fmt.Sprintf("plot-%s-%d.dat", s, size>>20))
			if err := os.WriteFile(f, []byte(rows.String()), 0o644); err != nil {
				return err
			}
			files = append(files, fmt.Sprintf("'%s' using 1:%%d with linespoints lw 2 pt 7 title '%s'", f, s))
		}
		plots := func(col int) string {
			var parts []string
			for _, f := range files {
				parts = append(parts, fmt.Sprintf(f, col))
			}
			return strings.Join(parts, ", ")
		}
		fmt.Fprintf(&script, "set key bottom right\nset title '%s file: throughput'\nset ylabel 'MiB/s'\nunset logscale y\nset yrange [0:*]\nplot %s\n", mib(size), plots(2))
		fmt.Fprintf(&script, "set key top left\nset title '%s file: p99 latency'\nset ylabel 'ms (log)'\nset logscale y\nset yrange [*:*]\nplot %s\n", mib(size), plots(3))
	}
	script.WriteString("unset multiplot\n")
	sp := filepath.Join(work, "plot.gp")
	if err := os.WriteFile(sp, []byte(script.String()), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("gnuplot", sp).CombinedOutput(); err != nil {
		return fmt.Errorf("gnuplot: %w: %s", err, out)
	}
	return nil
}
