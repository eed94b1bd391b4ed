// Package velox is the RoadRunner `velox` HTTP middleware: a PHP worker answers with
// `X-Velox-Build` and a JSON build request, the middleware resolves it to a RoadRunner
// binary (disk cache, or a Velox build server) and streams the file to the client.
// Everything that decides lives in the Rust library velox_middleware; this package is
// the HTTP plumbing and the binding (purego by default, cgo with -tags velox_cgo).
package velox

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/roadrunner-server/errors"
	"go.uber.org/zap"
)

// PluginName is the plugin's name and its `.rr.yaml` section.
const PluginName = "velox"

// Logger is the part of RoadRunner's logger plugin that the velox plugin uses.
type Logger interface {
	NamedLogger(name string) *zap.Logger
}

// Plugin is the RoadRunner plugin. Register it in the container; list "velox" in
// `http.middleware`.
type Plugin struct {
	log     *zap.Logger
	engine  *Engine
	maxBody int // MaxRequestBody, read once the library is loaded
	logs    *logDrain
	served  atomic.Uint64 // body bytes of binaries sent to clients (metrics.go)

	deadlineWarning sync.Once // deadline.go: warn once if deadlines cannot be lifted
	checks          checkLog  // health.go
}

// Init creates the engine from the `velox:` section; without that section the plugin
// is disabled. A configuration the library refuses fails Init with its message.
func (p *Plugin) Init(cfg Configurer, log Logger) error {
	const op = errors.Op("velox_plugin_init")
	if !cfg.Has(PluginName) {
		return errors.E(op, errors.Disabled)
	}
	p.log = log.NamedLogger(PluginName)

	c, err := loadConfig(cfg)
	if err != nil {
		return errors.E(op, err)
	}
	if err := LoadLibrary(c.libraryPath); err != nil {
		return errors.E(op, err)
	}
	if Backend == "cgo" && c.libraryPath != "" {
		p.log.Warn("velox.library_path is ignored: this build links the library statically",
			zap.String("library_path", c.libraryPath))
	}

	// Drain the library's log records before the engine exists, so that what it logs
	// while opening the cache reaches RoadRunner's log too.
	p.logs = startLogDrain(p.log)
	eng, err := NewEngine(c.engineJSON)
	if err != nil {
		p.logs.stop()
		return errors.E(op, err)
	}
	p.engine = eng
	p.maxBody = MaxRequestBody()
	p.log.Debug("velox engine ready",
		zap.String("backend", Backend),
		zap.String("library", LibraryLocation()),
		zap.String("version", libVersion()),
	)
	return nil
}

// Serve exists so that RoadRunner calls Stop (it only stops served plugins).
func (p *Plugin) Serve() chan error {
	return make(chan error, 1)
}

// Stop cancels the builds clients are waiting for (they get 503), frees the engine,
// which flushes the cache's access statistics, and stops the log drain.
func (p *Plugin) Stop(ctx context.Context) error {
	const op = errors.Op("velox_plugin_stop")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p.engine != nil {
			// endure stops the http plugin at the same time, which closes every client
			// connection: the builds in flight are abandoned, and finish or are
			// cancelled per keep_abandoned_builds (see shutdown.go).
			if left, err := p.engine.Drain(ctx); err != nil {
				p.log.Warn("draining builds failed", zap.Error(err))
			} else if left > 0 {
				p.log.Info("cancelling builds in flight", zap.Uint64("builds", left))
			}
			// Close shuts the engine down (clients still waiting get 503 from the
			// library), waits for the calls to leave and frees it.
			p.engine.Close()
		}
		p.logs.stop()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.E(op, ctx.Err())
	}
}

// Name is the plugin's name for RoadRunner's container.
func (p *Plugin) Name() string {
	return PluginName
}

// Engine is the plugin's engine (nil before Init), for hosts that want its Stats.
func (p *Plugin) Engine() *Engine {
	return p.engine
}
