package velox

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/roadrunner-server/api/v4/plugins/v1/status"
	"go.uber.org/zap"
)

// RoadRunner's status plugin collects every plugin with these methods and answers
// `/health?plugin=velox` and `/ready?plugin=velox` with their codes. The status plugin
// only turns a Code >= 500 into a failing HTTP status (an error return does not always),
// so problems are reported as 503 codes, never as errors.
//
// What counts as healthy or ready is decided by the library (vxm_engine_health_json);
// this file only maps it onto HTTP codes and logs changes.

// Health is the library's view of the engine (vxm_engine_health_json).
type Health struct {
	// Healthy: the engine can serve; false when the cache is enabled but its
	// directory is gone, not a directory or not writable (CacheProblem says which).
	Healthy bool `json:"healthy"`
	// Ready: a build path is configured and the engine is not stopping.
	Ready    bool `json:"ready"`
	Stopping bool `json:"stopping"`
	// BuildPath is "velox" (server_url) or "local" (the local builder).
	BuildPath    string `json:"build_path"`
	CacheEnabled bool   `json:"cache_enabled"`
	CacheProblem string `json:"cache_problem"`
}

// Health asks the library; with the cache enabled it creates and removes a small file
// in the cache directory.
func (e *Engine) Health() (Health, error) {
	return engineJSON[Health](e, "health", engineHealthJSON)
}

// Status is the status plugin's health check: 200 when the library is loaded (the
// engine exists, which Init only allows with a compatible library) and the cache, if
// enabled, is usable; 503 otherwise.
func (p *Plugin) Status() (*status.Status, error) {
	return p.check("health", func(h Health) (bool, []zap.Field) {
		return h.Healthy, []zap.Field{zap.String("problem", h.CacheProblem)}
	}), nil
}

// Ready is the status plugin's readiness check: 200 when a build path (a Velox server
// or the local builder) is configured and the plugin is not stopping; 503 otherwise.
func (p *Plugin) Ready() (*status.Status, error) {
	return p.check("ready", func(h Health) (bool, []zap.Field) {
		return h.Ready, []zap.Field{zap.Bool("stopping", h.Stopping), zap.String("build_path", h.BuildPath)}
	}), nil
}

// check answers one status probe from the library's health; verdict says whether h
// passes and what to log when it does not. A failure to ask the library fails the probe.
func (p *Plugin) check(name string, verdict func(h Health) (bool, []zap.Field)) *status.Status {
	h, err := p.health()
	ok, why := false, []zap.Field{zap.Error(err)}
	if err == nil {
		ok, why = verdict(h)
	}
	p.checks.note(name, ok, p.log, func() []zap.Field { return why })
	return code(ok)
}

func (p *Plugin) health() (Health, error) {
	if p.engine == nil {
		return Health{}, fmt.Errorf("velox: not initialised")
	}
	return p.engine.Health()
}

func code(ok bool) *status.Status {
	if ok {
		return &status.Status{Code: http.StatusOK}
	}
	return &status.Status{Code: http.StatusServiceUnavailable}
}

// checkLog logs a check's result when it changes, not at every probe (orchestrators
// probe every few seconds).
type checkLog struct {
	mu   sync.Mutex
	last map[string]bool
}

func (c *checkLog) note(check string, ok bool, log *zap.Logger, why func() []zap.Field) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]bool{}
	}
	prev, seen := c.last[check]
	c.last[check] = ok
	if log == nil || (seen && prev == ok) || (!seen && ok) {
		return
	}
	if ok {
		log.Info("velox "+check+" check passes again", zap.String("check", check))
		return
	}
	log.Warn("velox "+check+" check fails", append(why(), zap.String("check", check))...)
}
