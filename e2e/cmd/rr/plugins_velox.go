//go:build !rr_static

package main

import velox "github.com/velox-middleware/go-shim"

// extraPlugins are the plugins this project adds to RoadRunner.
func extraPlugins() []any {
	return []any{&velox.Plugin{}}
}
