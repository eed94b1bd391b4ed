package velox

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// benchEngine is an engine whose cache already holds the request's binary (built once by
// a fake Velox server), so that every Resolve is a hit.
func benchEngine(b *testing.B) (*Engine, []byte) {
	b.Helper()
	fv, err := fakevelox.Start(fakevelox.Options{Size: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fv.Close)
	cfg, err := json.Marshal(map[string]any{
		"server_url":         fv.URL,
		"build_timeout":      "30s",
		"request_timeout":    "10s",
		"allowed_build_dirs": []string{fv.OutputDir},
		"log_level":          "error",
		"cache": map[string]any{
			"enabled":   true,
			"directory": b.TempDir(),
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	req := validRequest().json()
	a, err := e.Resolve(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	_ = a.File.Close()
	if a.Source != SourceBuilt {
		b.Fatalf("first resolve: source %v, want built", a.Source)
	}
	return e, req
}

// resolveHit reports instead of failing: RunParallel's goroutines may not call Fatal.
func resolveHit(b *testing.B, e *Engine, req []byte) bool {
	a, err := e.Resolve(context.Background(), req)
	if err != nil {
		b.Error(err)
		return false
	}
	_ = a.File.Close()
	if a.Source != SourceCache {
		b.Errorf("source %v, want cache hit", a.Source)
		return false
	}
	return true
}

// BenchmarkResolveHit is what the middleware pays per cached download before streaming:
// the library call (validate, key, index, open), the cancel token and its watcher, the
// duplicated descriptor.
func BenchmarkResolveHit(b *testing.B) {
	e, req := benchEngine(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !resolveHit(b, e, req) {
			return
		}
	}
}

// BenchmarkResolveHitParallel is the same from GOMAXPROCS goroutines at once.
func BenchmarkResolveHitParallel(b *testing.B) {
	e, req := benchEngine(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !resolveHit(b, e, req) {
				return
			}
		}
	})
}
