package velox

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/roadrunner-server/api/v4/plugins/v1/status"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
	"go.uber.org/zap/zaptest/observer"
)

// The status plugin (roadrunner-server/status v5) collects plugins by these interfaces
// (its Checker and Readiness); a different signature would silently leave velox out.
var _ interface {
	Status() (*status.Status, error)
	Ready() (*status.Status, error)
	Name() string
} = (*Plugin)(nil)

// initPlugin returns an initialised plugin; stop is false when the test stops it itself.
func initPlugin(t *testing.T, section map[string]any, stop bool) (*Plugin, *observer.ObservedLogs) {
	t.Helper()
	log, logs := newObservedLogger()
	p := &Plugin{}
	if err := p.Init(testConfig{PluginName: section}, log); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if stop {
		t.Cleanup(func() { _ = p.Stop(context.Background()) })
	}
	return p, logs
}

func expectCode(t *testing.T, what string, st *status.Status, err error, want int) {
	t.Helper()
	if err != nil || st == nil || st.Code != want {
		t.Fatalf("%s = %+v, %v; want code %d and no error", what, st, err, want)
	}
}

func TestHealthFollowsTheCacheDirectory(t *testing.T) {
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fv.Close()
	section := engineSection(t, fv)
	cacheDir := section["cache"].(map[string]any)["directory"].(string)
	p, logs := initPlugin(t, section, true)

	st, err := p.Status()
	expectCode(t, "Status with a writable cache", st, err, http.StatusOK)
	st, err = p.Ready()
	expectCode(t, "Ready with a Velox server", st, err, http.StatusOK)

	// The cache directory vanishes (rm -rf, a lost volume): unhealthy, named, logged once.
	if err := os.RemoveAll(cacheDir); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		st, err = p.Status()
		expectCode(t, "Status without the cache directory", st, err, http.StatusServiceUnavailable)
	}
	warned := logs.FilterMessage("velox health check fails").All()
	if len(warned) != 1 {
		t.Fatalf("want one warning for three failing checks, got %d: %v", len(warned), logs.All())
	}
	if problem := warned[0].ContextMap()["problem"]; problem == nil || !strings.Contains(problem.(string), cacheDir) {
		t.Fatalf("the warning does not name the directory: %v", warned[0].ContextMap())
	}
	st, err = p.Ready()
	expectCode(t, "Ready without the cache directory", st, err, http.StatusOK)

	// It comes back (the volume is remounted): healthy again.
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err = p.Status()
	expectCode(t, "Status after the directory is back", st, err, http.StatusOK)
}

func TestNotReadyOnceStopping(t *testing.T) {
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fv.Close()
	p, _ := initPlugin(t, engineSection(t, fv), false)
	// Stop drains first: from then on the library reports the engine as stopping.
	if _, err := p.engine.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := p.Ready()
	expectCode(t, "Ready while stopping", st, err, http.StatusServiceUnavailable)
	st, err = p.Status()
	expectCode(t, "Status while stopping", st, err, http.StatusOK)

	// After Stop the engine is gone: neither check passes.
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = p.Ready()
	expectCode(t, "Ready after Stop", st, err, http.StatusServiceUnavailable)
	st, err = p.Status()
	expectCode(t, "Status after Stop", st, err, http.StatusServiceUnavailable)
}

func TestChecksBeforeInitFail(t *testing.T) {
	p := &Plugin{}
	st, err := p.Status()
	expectCode(t, "Status before Init", st, err, http.StatusServiceUnavailable)
	st, err = p.Ready()
	expectCode(t, "Ready before Init", st, err, http.StatusServiceUnavailable)
}
