package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// RoadRunner's own `serve`, as operators run it: the main changes into the config's
// directory, `rr reset http` (the resetter plugin over RPC) restarts the PHP workers
// without harming a build in flight, the status plugin answers for velox, the banner
// only comes once serving has begun, and stopping says when it is done.
func TestE2EServe(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			t.Run("reset_http_during_a_build", func(t *testing.T) { resetDuringBuild(t, bin) })
			t.Run("health_and_ready", func(t *testing.T) { healthAndReady(t, bin) })
			t.Run("relative_paths_follow_the_config", func(t *testing.T) { relativePaths(t, bin) })
			t.Run("busy_port_fails_without_banner", func(t *testing.T) { busyPort(t, bin) })
		})
	}
}

// rrReset runs `<binary> reset -c .rr.yaml <plugins>` as an operator would.
func rrReset(t *testing.T, e *env, plugins ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"reset", "-c", filepath.Join(e.dir, ".rr.yaml")}, plugins...)
	out, err := exec.CommandContext(ctx, e.binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rr reset %v: %v\n%s", plugins, err, out)
	}
	return string(out)
}

func resetDuringBuild(t *testing.T, bin string) {
	e := newEnv(t, bin, nil)
	// A build long enough for the reset to happen inside it, on a loaded machine.
	e.stop(true)
	e.cfg.BuildTimeout, e.cfg.RequestTimeout = "60s", "60s"
	e.start()
	ctx := ctxFor(t, 90*time.Second)
	const module = "github.com/e2e/reset-during-build"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 6 * time.Second}))
	building := make(chan download, 1)
	go func() { building <- get(ctx, e.url(buildPath(module, "")), nil) }()
	if !e.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.Building == 1 }) {
		t.Fatalf("the build never reached Velox: %+v", e.velox.Stats())
	}

	out := rrReset(t, e, "http")
	if !strings.Contains(out, "plugin reset: [http]") {
		t.Fatalf("rr reset http did not confirm the reset:\n%s", out)
	}
	if s := e.velox.Stats(); s.Building != 1 || s.Cancelled != 0 {
		t.Fatalf("the reset touched the build: %+v", s)
	}
	expectArtifact(t, <-building, keyOf(module), artifactSize, "MISS")
	if s := e.velox.Stats(); s.Calls != 1 || s.Cancelled != 0 {
		t.Fatalf("want exactly one build, not cancelled: %+v", s)
	}
	// The new workers answer, and the build is a hit.
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
	if !strings.Contains(e.rr.log.String(), "reset") {
		t.Errorf("RoadRunner's log shows no reset:\n%s", tail(e.rr.log.String(), 30))
	}
}

// check asks the status plugin for one of its endpoints about velox.
func check(t *testing.T, e *env, endpoint string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + e.cfg.StatusAddr + "/" + endpoint + "?plugin=velox")
	if err != nil {
		t.Fatalf("status plugin %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitForLog waits until RoadRunner's output contains want.
func waitForLog(t *testing.T, e *env, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(e.rr.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in RoadRunner's output after %v:\n%s", want, limit, tail(e.rr.log.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthAndReady(t *testing.T, bin string) {
	e := newEnv(t, bin, nil)
	// The banner follows serving (a second of quiet, then http.address answering).
	waitForLog(t, e, "[INFO] RoadRunner server started", 30*time.Second)
	for _, ep := range []string{"health", "ready"} {
		code, body := check(t, e, ep)
		if code != http.StatusOK || !strings.Contains(body, `"plugin_name":"velox"`) {
			t.Fatalf("/%s?plugin=velox = %d %s; want 200 with velox's report", ep, code, body)
		}
	}
	if strings.Contains(e.rr.log.String(), "does not support") {
		t.Fatalf("the status plugin does not see velox:\n%s", tail(e.rr.log.String(), 20))
	}

	// The cache directory disappears under the running server: unhealthy, still ready.
	must(os.RemoveAll(e.cacheDir))
	if code, body := check(t, e, "health"); code != http.StatusServiceUnavailable {
		t.Fatalf("/health without the cache directory = %d %s; want 503", code, body)
	}
	if code, body := check(t, e, "ready"); code != http.StatusOK {
		t.Fatalf("/ready without the cache directory = %d %s; want 200", code, body)
	}
	if !strings.Contains(e.rr.log.String(), e.cacheDir) {
		t.Errorf("the log does not name the cache directory:\n%s", tail(e.rr.log.String(), 20))
	}
	must(os.MkdirAll(e.cacheDir, 0o755))
	if code, body := check(t, e, "health"); code != http.StatusOK {
		t.Fatalf("/health after the directory is back = %d %s; want 200", code, body)
	}

	// Stopping: the banner came before, the stop line names endure.grace_period from
	// .rr.yaml, and the last line says it is over.
	p := e.rr
	e.stop(true)
	log := p.log.String()
	for _, want := range []string{"grace_period (20s)", "[INFO] RoadRunner server stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, tail(log, 20))
		}
	}
}

// A relative cache.directory means <config's directory>/..., whatever directory
// RoadRunner was started from (RoadRunner changes into the config's directory).
func relativePaths(t *testing.T, bin string) {
	e := newEnv(t, bin, nil)
	e.stop(true)
	e.cfg.CacheDir = "./relative-cache"
	e.runDir = t.TempDir()
	e.start()
	ctx := ctxFor(t, 60*time.Second)
	const module = "github.com/e2e/relative"
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	if _, err := os.Stat(filepath.Join(e.dir, "relative-cache", keyOf(module)+".bin")); err != nil {
		t.Fatalf("the relative cache directory is not beside .rr.yaml: %v", err)
	}
	if entries, _ := os.ReadDir(e.runDir); len(entries) != 0 {
		t.Fatalf("RoadRunner wrote into the directory it was started from: %v", entries)
	}
}

// A busy http.address: no "started" banner, a non-zero exit, the bind error shown.
func busyPort(t *testing.T, bin string) {
	e := newEnv(t, bin, nil)
	e.stop(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.cfg.HTTPAddr = ln.Addr().String()
	e.cfg.RPCAddr, e.cfg.MetricsAddr, e.cfg.StatusAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	cfgPath := e.writeConfig()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.binary, "serve", "-c", cfgPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // PHP workers, if any are left
	if ctx.Err() != nil {
		t.Fatalf("RoadRunner kept running on a busy port:\n%s", tail(string(out), 30))
	}
	if err == nil {
		t.Fatalf("RoadRunner exited 0 on a busy port:\n%s", tail(string(out), 30))
	}
	log := string(out)
	if strings.Contains(log, "RoadRunner server started") {
		t.Errorf("the banner was printed although http could not bind:\n%s", tail(log, 30))
	}
	if !strings.Contains(log, "address already in use") || !strings.Contains(log, e.cfg.HTTPAddr) {
		t.Errorf("the exit does not show the bind error for %s:\n%s", e.cfg.HTTPAddr, tail(log, 30))
	}
}
