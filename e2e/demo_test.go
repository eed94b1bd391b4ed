package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// TestE2EDemo runs RoadRunner with the demo's worker (demo/worker.php) in front of the
// fake Velox server instead of the local builder, so an accidental build shows as a call
// to the fake server (and never runs `go build` for minutes). A query the worker cannot
// read exactly must be a 400 JSON error naming the problem, and build nothing; a good one
// builds once.
func TestE2EDemo(t *testing.T) {
	bin := binaries()[0]
	e := newEnvWorker(t, bin, filepath.Join(repoRoot(t), "demo", "worker.php"), nil)

	refusals := []struct {
		name, pathQuery string
		status          int
		code            string
		mentions        []string
	}{
		// A typo used to build the default linux/amd64 binary.
		{"typo_parameter", "/download?targt=darwin/arm64", 400, "unknown_parameter",
			[]string{`"targt"`, `did you mean "target"`, "rr, target, plugin[]"}},
		// A malformed query used to build the default binary too (parse_str mangled it).
		{"malformed_query", "/download?%zz=%%&plugin[", 400, "malformed_query", []string{`"%zz"`, "percent escape"}},
		{"unclosed_bracket", "/download?plugin[", 400, "unknown_parameter", []string{`"plugin["`, `did you mean "plugin[]"`}},
		{"empty_plugin", "/download?plugin[]=", 400, "invalid_value", []string{"plugin[] is empty", "accepted: server, http"}},
		{"unknown_target", "/download?target=darwin/amd64", 400, "invalid_value", []string{`"darwin/amd64"`, "darwin/arm64"}},
		{"request_route_too", "/request?plugins=server", 400, "unknown_parameter", []string{`"plugins"`}},
		{"unknown_path", "/nowhere", 404, "not_found", []string{`"/nowhere"`}},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			d := get(ctxFor(t, 30*time.Second), e.url(c.pathQuery), nil)
			body := expectJSONError(t, d, c.status)
			if ct := d.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if len(body) != 2 || body["code"] != c.code {
				t.Errorf("want exactly {error, code} with code %q, got %s", c.code, d.body)
			}
			msg, _ := body["error"].(string)
			for _, m := range c.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %s", msg, m)
				}
			}
			if h := d.header.Get("X-Velox-Cache"); h != "" {
				t.Errorf("the middleware resolved a refused request: X-Velox-Cache = %q", h)
			}
		})
	}
	e.t = t
	expectCalls(t, e, 0)

	// The control: the same worker and server do build for a good query, so the zero
	// above means "refused", not "could not build". `plugin` without [] is accepted.
	d := get(ctxFor(t, 30*time.Second), e.url("/download?target=linux/amd64&plugin=server"), nil)
	key := fakevelox.Key(rrVersion, "linux", "amd64",
		[]fakevelox.Plugin{{ModuleName: "github.com/roadrunner-server/server/v5", Tag: "v5.2.10"}})
	expectArtifact(t, d, key, artifactSize, "MISS")
	expectCalls(t, e, 1)

	// /request shows the build request as JSON, and builds nothing.
	d = get(ctxFor(t, 30*time.Second), e.url("/request?rr=v2025.1.10&target=darwin%2Farm64&plugin%5B%5D=http"), nil)
	var req struct {
		RRVersion string            `json:"rr_version"`
		Target    map[string]string `json:"target_platform"`
		Plugins   []map[string]string
	}
	if d.status != 200 || json.Unmarshal(d.body, &req) != nil || req.RRVersion != "v2025.1.10" ||
		req.Target["os"] != "darwin" || len(req.Plugins) != 1 || req.Plugins[0]["module_name"] != "github.com/roadrunner-server/http/v5" {
		t.Errorf("/request: want the build request for v2025.1.10 darwin/arm64 http, got %v", d)
	}
	expectCalls(t, e, 1)
}

// TestE2EDemoPortInUse: `make demo` (demo/run.sh) with its address taken fails at once
// with a message naming the address and the DEMO_ADDR override, and starts no RoadRunner.
func TestE2EDemoPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "demo", "run.sh"))
	cmd.Env = append(os.Environ(), "DEMO_ADDR="+addr)
	// Its own process group, killed whole if the script hangs or got as far as RoadRunner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v; output:\n%s", err, out)
	}
	for _, want := range []string{"cannot listen on " + addr, "in use", "DEMO_ADDR=127.0.0.1:8081 make demo"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "velox demo on") {
		t.Errorf("the demo went on to start RoadRunner:\n%s", out)
	}
}
