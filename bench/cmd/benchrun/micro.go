package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// microResult is one criterion benchmark: the median and its 95% interval, in ns.
type microResult struct {
	ID       string  `json:"id"`
	MedianNs float64 `json:"median_ns"`
	LowNs    float64 `json:"low_ns"`
	HighNs   float64 `json:"high_ns"`
}

// readCriterion collects target/criterion/**/new/{benchmark,estimates}.json.
func readCriterion(dir string) []microResult {
	var out []microResult
	_ = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "estimates.json" || filepath.Base(filepath.Dir(path)) != "new" {
			return nil
		}
		var meta struct {
			FullID string `json:"full_id"`
		}
		var est struct {
			Median struct {
				Point float64 `json:"point_estimate"`
				CI    struct {
					Low  float64 `json:"lower_bound"`
					High float64 `json:"upper_bound"`
				} `json:"confidence_interval"`
			} `json:"median"`
		}
		if readJSON(filepath.Join(filepath.Dir(path), "benchmark.json"), &meta) != nil || readJSON(path, &est) != nil {
			return nil
		}
		out = append(out, microResult{meta.FullID, est.Median.Point, est.Median.CI.Low, est.Median.CI.High})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// goBenchResult is one line of `go test -bench -benchmem`; with -count > 1 the median
// of the runs is kept.
type goBenchResult struct {
	Backend     string  `json:"backend"`
	Name        string  `json:"name"`
	Runs        int     `json:"runs"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// readGoBench reads dir/go-<backend>.txt files written by `make bench`.
func readGoBench(dir string) []goBenchResult {
	files, _ := filepath.Glob(filepath.Join(dir, "go-*.txt"))
	sort.Strings(files)
	var out []goBenchResult
	for _, f := range files {
		backend := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "go-"), ".txt")
		type acc struct{ ns, b, allocs []float64 }
		runs := map[string]*acc{}
		var order []string
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
				continue
			}
			name := fields[0]
			if i := strings.LastIndex(name, "-"); i > 0 {
				name = name[:i]
			}
			a := runs[name]
			if a == nil {
				a = &acc{}
				runs[name] = a
				order = append(order, name)
			}
			for i := 2; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					continue
				}
				switch fields[i+1] {
				case "ns/op":
					a.ns = append(a.ns, v)
				case "B/op":
					a.b = append(a.b, v)
				case "allocs/op":
					a.allocs = append(a.allocs, v)
				}
			}
		}
		_ = fh.Close()
		for _, name := range order {
			a := runs[name]
			out = append(out, goBenchResult{backend, strings.TrimPrefix(name, "Benchmark"), len(a.ns),
				median(a.ns), median(a.b), median(a.allocs)})
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
