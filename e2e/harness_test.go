package e2e

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	shim "github.com/velox-middleware/go-shim"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// The in-process fakes name builds with the library's key ($VELOX_MIDDLEWARE_LIB, which
// the Makefile sets).
func init() { fakevelox.SetRequestKey(shim.RequestKey) }

//go:embed rr.yaml.tmpl
var rrConfigTemplate string

// rrConfig fills rr.yaml.tmpl.
type rrConfig struct {
	Worker         string
	HTTPAddr       string
	RPCAddr        string
	MetricsAddr    string
	StatusAddr     string
	ServerURL      string
	OutputDir      string
	CacheDir       string
	BuildTimeout   string
	RequestTimeout string
	// KeepAbandoned sets velox.keep_abandoned_builds (ops_test.go).
	KeepAbandoned bool
	// LibraryPath sets velox.library_path (dist_test.go).
	LibraryPath string
	// BuildLinger and RespondAfter set velox.build_linger and velox.respond_after when
	// not empty (longbuild_test.go). The shared environments run with build_linger 0s,
	// so a departed client cancels its build as the scenarios expect.
	BuildLinger  string
	RespondAfter string
	// CacheDisabled sets velox.cache.enabled to false (load_test.go).
	CacheDisabled bool
	// Velox and Cache are more keys of the velox and velox.cache sections, as YAML
	// scalars, in key order (load_test.go: admission, the pickup hold, max_size_gb).
	Velox map[string]string
	Cache map[string]string
	// RemoteURL and RemoteEndpoint set cache.remote (remote_test.go).
	RemoteURL      string
	RemoteEndpoint string
}

// env is one RoadRunner binary under test with its fake Velox server and cache.
type env struct {
	t        *testing.T
	binary   string
	velox    *fakevelox.Server
	dir      string
	cacheDir string
	cfg      rrConfig
	rr       *rrProcess
	// runDir, when set, is RoadRunner's working directory at start; by default it is
	// dir, where .rr.yaml is (RoadRunner changes into the config's directory anyway).
	runDir string
}

// rrProcess is a running RoadRunner in its own process group.
type rrProcess struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	base string
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// repoRoot is the checkout root (the e2e module lives in <root>/e2e).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// binaries lists the RoadRunner binaries to test: VXM_E2E_BINARIES (space separated
// names in build/) or both.
func binaries() []string {
	if v := strings.TrimSpace(os.Getenv("VXM_E2E_BINARIES")); v != "" {
		return strings.Fields(v)
	}
	return []string{"rr", "rr-purego"}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newEnv starts a fake Velox server and prepares a cache directory; prepare may write
// into the cache directory before RoadRunner starts. The worker is e2e/php/worker.php.
func newEnv(t *testing.T, name string, prepare func(cacheDir string)) *env {
	t.Helper()
	return newEnvWorker(t, name, filepath.Join(repoRoot(t), "e2e", "php", "worker.php"), prepare)
}

// newEnvWorker is newEnv with another PHP worker script (demo_test.go runs the demo's).
func newEnvWorker(t *testing.T, name, worker string, prepare func(cacheDir string)) *env {
	t.Helper()
	return newEnvConfigured(t, name, worker, prepare, nil)
}

// newEnvConfigured is newEnvWorker with configure changing the .rr.yaml fields before
// RoadRunner starts.
func newEnvConfigured(t *testing.T, name, worker string, prepare func(cacheDir string), configure func(*rrConfig)) *env {
	t.Helper()
	root := repoRoot(t)
	binary := filepath.Join(root, "build", name)
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("%s missing: run `make %s` first (%v)", binary, name, err)
	}
	dir := t.TempDir()
	velox, err := fakevelox.Start(fakevelox.Options{OutputDir: filepath.Join(dir, "velox-out"), Size: artifactSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(velox.Close)
	if err := os.MkdirAll(velox.OutputDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, binary: binary, velox: velox, dir: dir, cacheDir: filepath.Join(dir, "cache")}
	if err := os.MkdirAll(e.cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(e.cacheDir)
	}
	e.cfg = rrConfig{
		Worker:         worker,
		ServerURL:      velox.URL,
		OutputDir:      velox.OutputDir,
		CacheDir:       e.cacheDir,
		BuildTimeout:   buildTimeout.String(),
		RequestTimeout: "2s",
		BuildLinger:    "0s",
	}
	if configure != nil {
		configure(&e.cfg)
	}
	e.start()
	t.Cleanup(func() { e.stop(false) })
	return e
}

// start writes a fresh .rr.yaml with new ports and starts RoadRunner, waiting until the
// HTTP server answers. A port found free can be taken before RoadRunner binds it (an
// outgoing connection of a busy test picks its local port from the same range), so a
// start-up that fails only on "address already in use" is tried again with new ports.
func (e *env) start() {
	e.t.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		if e.tryStart(i < attempts) {
			return
		}
		e.t.Logf("%s: a port was taken before RoadRunner bound it; starting again with new ports", e.binary)
	}
}

// tryStart is one start-up; it returns false when RoadRunner exited on a port already in
// use and retry allows another try.
func (e *env) tryStart(retry bool) bool {
	t := e.t
	t.Helper()
	e.cfg.HTTPAddr = freeAddr(t)
	e.cfg.RPCAddr = freeAddr(t)
	e.cfg.MetricsAddr = freeAddr(t)
	e.cfg.StatusAddr = freeAddr(t)
	cfgPath := e.writeConfig()

	p := &rrProcess{log: &syncBuffer{}, done: make(chan struct{}), base: "http://" + e.cfg.HTTPAddr}
	p.cmd = exec.Command(e.binary, "serve", "-c", cfgPath)
	p.cmd.Dir = e.dir
	if e.runDir != "" {
		p.cmd.Dir = e.runDir
	}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// Its own process group, so stop() reaches the PHP workers too; and killed with us.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", e.binary, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	e.rr = p

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			if retry && strings.Contains(p.log.String(), "address already in use") {
				return false
			}
			t.Fatalf("%s exited during start-up:\n%s", e.binary, tail(p.log.String(), 40))
		default:
		}
		resp, err := http.Get(p.base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Now().After(deadline) {
			e.stop(false)
			t.Fatalf("%s not ready after 30s (last error %v):\n%s", e.binary, err, tail(p.log.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeConfig writes .rr.yaml from e.cfg into e.dir and returns its path.
func (e *env) writeConfig() string {
	var buf bytes.Buffer
	if err := template.Must(template.New("rr").Parse(rrConfigTemplate)).Execute(&buf, e.cfg); err != nil {
		e.t.Fatal(err)
	}
	cfgPath := filepath.Join(e.dir, ".rr.yaml")
	if err := os.WriteFile(cfgPath, buf.Bytes(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return cfgPath
}

// stop ends RoadRunner: SIGTERM for a graceful stop (plugins' Stop runs), then SIGKILL to
// the whole process group after a grace period, or at once when graceful is false.
func (e *env) stop(graceful bool) {
	p := e.rr
	if p == nil {
		return
	}
	e.rr = nil
	pgid := p.cmd.Process.Pid
	if graceful {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			e.t.Errorf("%s did not stop within 15s after SIGTERM:\n%s", e.binary, tail(p.log.String(), 30))
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		e.t.Errorf("%s survived SIGKILL", e.binary)
	}
	if e.t.Failed() {
		e.t.Logf("%s log (tail):\n%s", e.binary, tail(p.log.String(), 60))
	}
}

func (e *env) restart() {
	e.t.Helper()
	e.stop(true)
	e.start()
}

func (e *env) url(path string) string { return e.rr.base + path }

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// download is what a client sees of one request.
type download struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (d download) String() string {
	b := d.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("status %d, err %v, headers %v, body %q", d.status, d.err, d.header, b)
}

// client never asks for compression, so bytes on the wire are the file's bytes.
var client = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
}

func get(ctx context.Context, url string, header http.Header) download {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return download{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return download{err: err}
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	return download{status: resp.StatusCode, header: resp.Header, body: body.Bytes(), err: err}
}
