package velox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The fake names builds with the library's key.
func init() { fakevelox.SetRequestKey(RequestKey) }

// maxBody loads the library and returns its request limit (MaxRequestBody).
func maxBody(t *testing.T) int {
	t.Helper()
	if err := LoadLibrary(""); err != nil {
		t.Fatal(err)
	}
	return MaxRequestBody()
}

// testConfig is a Configurer over a map, handing out sections the way RoadRunner's
// config plugin (viper + mapstructure) does: a map[string]any per section.
type testConfig map[string]any

func (c testConfig) Has(name string) bool { _, ok := c[name]; return ok }

func (c testConfig) UnmarshalKey(name string, out any) error {
	m, ok := out.(*map[string]any)
	if !ok {
		return fmt.Errorf("testConfig: want *map[string]any, got %T", out)
	}
	section, ok := c[name].(map[string]any)
	if !ok {
		return fmt.Errorf("testConfig: section %q is %T", name, c[name])
	}
	*m = section
	return nil
}

// testLogger is RoadRunner's logger plugin as far as the velox plugin sees it.
type testLogger struct{ z *zap.Logger }

func (l testLogger) NamedLogger(name string) *zap.Logger { return l.z.Named(name) }

func newObservedLogger() (testLogger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return testLogger{zap.New(core)}, logs
}

// harness is a plugin in front of a fake worker, talking to a fake Velox server.
type harness struct {
	t      *testing.T
	velox  *fakevelox.Server
	plugin *Plugin
	server *httptest.Server
	logs   *observer.ObservedLogs
	worker http.Handler
}

// engineSection is a `velox:` section for tests: fast retries, a private cache, and a
// departed client's build cancelled at once (build_linger 0s) as the disconnect test expects.
func engineSection(t *testing.T, fv *fakevelox.Server) map[string]any {
	return map[string]any{
		"server_url":      fv.URL,
		"build_timeout":   "30s",
		"build_linger":    "0s",
		"request_timeout": "10s",
		"retry": map[string]any{
			"max_attempts":       2,
			"initial_delay":      "10ms",
			"max_delay":          "50ms",
			"backoff_multiplier": 2.0,
		},
		"cache": map[string]any{
			"enabled":   true,
			"directory": t.TempDir(),
		},
		"allowed_build_dirs": []any{fv.OutputDir},
	}
}

// newHarness starts a fake Velox server and a plugin whose worker is `worker`.
func newHarness(t *testing.T, worker http.Handler) *harness {
	t.Helper()
	return newHarnessWith(t, worker, harnessOptions{})
}

// harnessOptions changes a harness's `velox:` section or its HTTP server before start.
type harnessOptions struct {
	section func(map[string]any)
	server  func(*http.Server)
	wrap    func(http.Handler) http.Handler // what sits between the server and the plugin
}

func newHarnessWith(t *testing.T, worker http.Handler, o harnessOptions) *harness {
	t.Helper()
	fv, err := fakevelox.Start(fakevelox.Options{Size: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fv.Close)
	log, logs := newObservedLogger()
	p := &Plugin{}
	section := engineSection(t, fv)
	if o.section != nil {
		o.section(section)
	}
	if err := p.Init(testConfig{PluginName: section}, log); err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	h := &harness{t: t, velox: fv, plugin: p, logs: logs, worker: worker}
	var handler http.Handler = p.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.worker.ServeHTTP(w, r)
	}))
	if o.wrap != nil {
		handler = o.wrap(handler)
	}
	h.server = httptest.NewUnstartedServer(handler)
	if o.server != nil {
		o.server(h.server.Config)
	}
	h.server.Start()
	t.Cleanup(h.server.Close)
	return h
}

// buildRequest is a worker's JSON body, valid for both the library and fakevelox.
type buildRequest struct {
	RequestID      string           `json:"request_id,omitempty"`
	RRVersion      string           `json:"rr_version"`
	TargetPlatform *buildPlatform   `json:"target_platform,omitempty"`
	Plugins        []map[string]any `json:"plugins"`
}

type buildPlatform struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

func validRequest() buildRequest {
	return buildRequest{
		RRVersion:      "v2025.1.5",
		TargetPlatform: &buildPlatform{OS: "linux", Arch: "amd64"},
		Plugins: []map[string]any{
			{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"},
		},
	}
}

func (b buildRequest) json() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return out
}

// key is the seed plugin's key of the request, which the library must agree with.
func (b buildRequest) key() string {
	var plugins []fakevelox.Plugin
	for _, p := range b.Plugins {
		plugins = append(plugins, fakevelox.Plugin{ModuleName: p["module_name"].(string), Tag: p["tag"].(string)})
	}
	return fakevelox.Key(b.RRVersion, b.TargetPlatform.OS, b.TargetPlatform.Arch, plugins)
}

// buildWorker answers every request like a PHP worker asking for a build.
func buildWorker(body []byte, extra http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range extra {
			w.Header()[k] = v
		}
		w.Header().Set(HeaderBuild, "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// do sends a request with a bounded time and returns the response with its body read.
func (h *harness) do(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("reading body: %v", err)
	}
	return resp, body
}

func (h *harness) get(header http.Header) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.server.URL+"/download", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(req)
}

// errorBody is the JSON the middleware answers errors with.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func decodeError(t *testing.T, body []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	return e
}
