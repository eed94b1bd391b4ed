// Command benchrun is the driver of `make bench`: it starts each HTTP server under test
// (RoadRunner with velox, cgo and purego; RoadRunner with the static plugin; plain
// net/http), loads it with wrk, samples its memory, measures coalescing of concurrent
// misses against the fake Velox server, collects the criterion and Go micro benchmark
// results, and writes BENCHMARKS.md and a PNG plot. Every run and wait is bounded.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	velox "github.com/velox-middleware/go-shim"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

type driver struct {
	root, build, work string
	worker, sharedLib string
	wrkScript, files  string
	workers           int
	seed              string // build/rr-seed, or "" when the original plugin is not measured
	fake              *fakevelox.Server
}

func (d *driver) bin(name string) string { return filepath.Join(d.build, name) }

type plan struct {
	servers []string
	sizes   []int
	conns   []int
	dur     time.Duration
	rounds  int
	misses  int
	rates   []ratePoint
	rateDur time.Duration
	seed    bool
	// seedCommit: the commit of the checkout build/rr-seed was built from.
	seedCommit string
}

func main() {
	root := flag.String("root", ".", "repository root")
	quick := flag.Bool("quick", false, "fewer points, shorter runs")
	out := flag.String("out", "BENCHMARKS.md", "report to write (relative to root)")
	plot := flag.String("plot", "bench/benchmarks.png", "plot to write (relative to root)")
	from := flag.String("from", "", "rewrite the report and plot from this results.json, measuring nothing")
	seed := flag.String("seed", "", "RoadRunner with the original plugin (build/rr-seed from scripts/build-rr-seed.sh): measure it too")
	flag.Parse()

	abs, err := filepath.Abs(*root)
	check(err)
	if *from != "" {
		rep, err := loadReport(*from)
		check(err)
		check(writeOutputs(rep, abs, filepath.Join(abs, "build/bench/run"), *out, *plot))
		return
	}
	d := &driver{
		root:      abs,
		build:     filepath.Join(abs, "build"),
		worker:    filepath.Join(abs, "e2e/php/worker.php"),
		sharedLib: filepath.Join(abs, "target/release/libvelox_middleware.so"),
		wrkScript: filepath.Join(abs, "bench/wrk-report.lua"),
		workers:   4,
	}
	d.work = filepath.Join(d.build, "bench/run")
	_ = os.RemoveAll(d.work)
	check(os.MkdirAll(d.work, 0o755))

	if *seed != "" {
		d.seed, err = filepath.Abs(*seed)
		check(err)
		if _, err := os.Stat(d.seed); err != nil {
			check(fmt.Errorf("-seed: %w (make bench SEED_SRC=/path/to/checkout builds it)", err))
		}
	}
	p := plan{
		servers: []string{"velox-cgo", "velox-purego", "static", "servecontent"},
		sizes:   []int{1 << 20, 64 << 20},
		conns:   []int{1, 16, 64},
		dur:     5 * time.Second,
		rounds:  3,
		misses:  20,
		rates:   []ratePoint{{1 << 20, 300}, {1 << 20, 600}, {64 << 20, 15}},
		rateDur: 6 * time.Second,
	}
	if *quick {
		p.servers = []string{"velox-cgo", "velox-purego", "static"}
		p.conns = []int{1, 64}
		p.dur = 2 * time.Second
		p.rateDur = 3 * time.Second
		p.rounds = 1
	}
	if d.seed != "" {
		p.seed = true
		if b, err := os.ReadFile(filepath.Join(d.build, "seed/commit")); err == nil {
			p.seedCommit = strings.TrimSpace(string(b))
		}
		// Right after ours, so that the columns to compare sit side by side.
		p.servers = append(p.servers[:2], append([]string{"seed"}, p.servers[2:]...)...)
	}

	started := time.Now()
	d.files = filepath.Join(d.work, "files")
	check(os.MkdirAll(d.files, 0o755))
	for _, size := range p.sizes {
		check(writeRandom(filepath.Join(d.files, fileName(size)), size))
	}
	veloxOut := filepath.Join(d.work, "velox-out")
	check(os.MkdirAll(veloxOut, 0o755))
	// The fake names builds with the library's key: the library the servers load.
	check(velox.LoadLibrary(d.sharedLib))
	fakevelox.SetRequestKey(velox.RequestKey)
	d.fake, err = fakevelox.Start(fakevelox.Options{OutputDir: veloxOut})
	check(err)
	defer d.fake.Close()

	rep := &report{quick: *quick, plan: p, started: started.UTC()}
	loadStart := loadAvg()
	fmt.Printf("benchrun: load average at the start: %s\n", loadStart)
	rep.http, rep.rates, rep.misses, rep.probes, rep.failures = d.measureAll(p)
	rep.micro = readCriterion(filepath.Join(d.root, "target/criterion"))
	rep.goBench = readGoBench(filepath.Join(d.build, "bench"))
	rep.machine = describeMachine()
	rep.machine.LoadStart = loadStart
	rep.elapsed = time.Since(started)
	check(rep.writeJSON(filepath.Join(d.build, "bench/results.json")))
	check(writeOutputs(rep, d.root, d.work, *out, *plot))
}

// writeOutputs draws the plot and writes the markdown report.
func writeOutputs(rep *report, root, work, out, plot string) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if err := writePlot(work, filepath.Join(root, plot), rep); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun: plot:", err)
		rep.failures = append(rep.failures, "plot: "+err.Error())
	} else {
		rep.plot = plot
	}
	if err := os.WriteFile(filepath.Join(root, out), []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Printf("benchrun: wrote %s and %s (measured in %s)\n", out, plot, rep.elapsed.Round(time.Second))
	return nil
}

func fileName(size int) string { return fmt.Sprintf("%dm.bin", size>>20) }

func writeRandom(path string, size int) error {
	buf := make([]byte, size)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func mib(size int) string { return fmt.Sprintf("%d MiB", size>>20) }

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
