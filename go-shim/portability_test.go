package velox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The platforms RoadRunner publishes release binaries for: a Velox build of RoadRunner
// with this plugin must compile for each of them.
var roadRunnerPlatforms = []string{
	"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "freebsd/amd64",
}

// goCommand runs the go tool in dir with extra environment, bounded in time, and fails
// the test with its output.
func goCommand(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed for this test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanGoEnv(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), err, out)
	}
}

// cleanGoEnv is this process's environment without the settings each build chooses
// itself (the Makefile exports some of them to the tests).
func cleanGoEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "CGO_ENABLED", "CGO_CFLAGS", "CGO_LDFLAGS", "GOOS", "GOARCH", "GOFLAGS", "GOWORK", "GOPROXY":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// onePass runs a test in one of the two `make go-test` passes only: what it checks does
// not depend on the backend this test binary was built with.
func onePass(t *testing.T) {
	t.Helper()
	if Backend == "cgo" {
		t.Skip("runs in the purego pass")
	}
	if testing.Short() {
		t.Skip("builds the module several times")
	}
}

func TestCompilesForEveryRoadRunnerPlatform(t *testing.T) {
	onePass(t)
	for _, p := range roadRunnerPlatforms {
		goos, goarch, _ := strings.Cut(p, "/")
		t.Run(goos+"_"+goarch, func(t *testing.T) {
			env := []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0"}
			goCommand(t, ".", env, "build", "./...")
			goCommand(t, ".", env, "vet", "./...") // the tests compile there too
		})
	}
}

// A Velox build fetches go-shim as a module: the directory alone, without this
// repository's include/ and target/, with the host's CGO_ENABLED. Both values must build
// from the module cache alone (GOPROXY=off: nothing is downloaded). A module zip leaves
// out the nested test module, and no workspace applies there, so the copy drops both.
func TestModuleBuildsAloneWithAndWithoutCgo(t *testing.T) {
	onePass(t)
	dir := filepath.Join(t.TempDir(), "go-shim")
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	for _, name := range testOnly {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cgo := range []string{"1", "0"} {
		t.Run("CGO_ENABLED="+cgo, func(t *testing.T) {
			goCommand(t, dir, []string{"CGO_ENABLED=" + cgo, "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off"},
				"build", "./...")
		})
	}
}

// testOnly are the parts of this directory that exist for the tests alone: the module
// with the fake Velox and the workspace that ties it in.
var testOnly = []string{"tests", "go.work", "go.work.sum"}

// The fake Velox must stay out of the graph Velox builds: go.mod names no test module.
func TestModuleDoesNotRequireTheTestModule(t *testing.T) {
	goMod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(goMod), "go-shim/tests") {
		t.Fatalf("go.mod requires or replaces the test module:\n%s", goMod)
	}
}
