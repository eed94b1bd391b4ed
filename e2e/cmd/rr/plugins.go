package main

import (
	gzipPlugin "github.com/roadrunner-server/gzip/v5"
	httpPlugin "github.com/roadrunner-server/http/v5"
	"github.com/roadrunner-server/informer/v5"
	"github.com/roadrunner-server/logger/v5"
	"github.com/roadrunner-server/metrics/v5"
	"github.com/roadrunner-server/resetter/v5"
	"github.com/roadrunner-server/rpc/v5"
	"github.com/roadrunner-server/server/v5"
	"github.com/roadrunner-server/status/v5"
)

// plugins is everything but the config plugin, which serve builds from the flags. The
// versions are pinned in go.mod to the ones RoadRunner v2025.1.15 pins.
func plugins() []any {
	return append([]any{
		&logger.Plugin{},
		&server.Plugin{},
		&rpc.Plugin{},
		&metrics.Plugin{},
		&httpPlugin.Plugin{},
		&gzipPlugin.Plugin{},
		// Velox adds these three to every binary it builds.
		&informer.Plugin{},
		&resetter.Plugin{},
		&status.Plugin{},
	}, extraPlugins()...)
}

func pluginNames() []string {
	names := []string{"config"}
	for _, p := range plugins() {
		if n, ok := p.(interface{ Name() string }); ok {
			names = append(names, n.Name())
		}
	}
	return names
}
