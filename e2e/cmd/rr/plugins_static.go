//go:build rr_static

package main

import "github.com/roadrunner-server/static/v5"

// extraPlugins, built with -tags rr_static: RoadRunner's own `static` file server in
// place of velox. This is the benchmarks' baseline (build/rr-static), so that both sides
// run the very same main, plugin versions and configuration format.
func extraPlugins() []any {
	return []any{&static.Plugin{}}
}
