package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// Faults through the whole stack: a real RoadRunner with the plugin, the PHP worker, and
// the fake Velox server behind a TCP fault proxy. Upstream faults must end in the
// documented error statuses with nothing cached and nothing partial served; cache
// directory faults (full, read-only, deleted, corrupt) must never fail a download the
// upstream can serve; unsafe build paths must be refused with nothing served.
//
// `go test -run E2EFaults` (part of `make e2e`). The disk scenarios mount a 2 MiB tmpfs
// and need root; without it they are skipped with a message saying so.

type faultScenario struct {
	name string
	run  func(t *testing.T, f *faultEnv)
}

// faultEnv is an env whose RoadRunner reaches the fake Velox server through the proxy.
type faultEnv struct {
	*env
	proxy *faultProxy
}

var upstreamFaults = []faultScenario{
	{"refused_connections_502_then_recovers", refusedConnections},
	{"reset_on_accept_502", resetOnAccept},
	{"reset_mid_body_never_serves_or_caches", resetMidBody},
	{"reset_mid_body_once_is_retried", resetMidBodyOnce},
	{"hanging_upstream_504_pages_still_served", hangingUpstream},
	{"5xx_storm_502_nothing_cached", fiveXXStorm},
	{"409_storm_concurrent_all_built", conflictStormConcurrent},
	{"unsafe_build_paths_refused", unsafeBuildPaths},
}

var diskFaults = []faultScenario{
	{"full_filesystem_stores_fail_downloads_succeed", fullFilesystem},
	{"read_only_cache_downloads_succeed", readOnlyCache},
	{"corrupt_entries_injected_never_served", corruptEntries},
	{"cache_directory_deleted_while_running", cacheDirDeleted},
}

func TestE2EFaults(t *testing.T) {
	for _, bin := range binaries() {
		t.Run(bin, func(t *testing.T) {
			t.Run("upstream", func(t *testing.T) {
				e := newEnv(t, bin, nil)
				f := &faultEnv{env: e, proxy: startFaultProxy(t, strings.TrimPrefix(e.velox.URL, "http://"))}
				e.cfg.ServerURL = f.proxy.URL
				e.restart()
				runFaults(t, f, upstreamFaults)
			})
			t.Run("disk", func(t *testing.T) {
				var mounted string
				e := newEnv(t, bin, func(cacheDir string) { mounted = mountTinyFS(t, cacheDir) })
				// The cache lives one level down, so that the directory itself can be
				// deleted while RoadRunner runs (a mount point cannot).
				e.cfg.CacheDir = filepath.Join(e.cacheDir, "velox")
				e.cacheDir = e.cfg.CacheDir
				must(os.MkdirAll(e.cacheDir, 0o755))
				e.restart()
				f := &faultEnv{env: e}
				if mounted == "" {
					t.Logf("no tmpfs: full and read-only filesystem scenarios skipped")
				}
				runFaults(t, f, diskFaults)
			})
		})
	}
}

func runFaults(t *testing.T, f *faultEnv, scenarios []faultScenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if f.proxy != nil {
				f.proxy.set(proxyPass, 0)
			}
			f.prepare(t, sc.name)
			sc.run(t, f)
			f.expectAlive(t, sc.name)
			// Whatever happened, ordinary pages are still served.
			if d := get(ctxFor(t, 10*time.Second), f.url("/page?size=1000"), nil); d.status != 200 || !bytes.Equal(d.body, phpPage(1000)) {
				t.Fatalf("ordinary page after %s: %v", sc.name, d)
			}
		})
	}
}

// mountTinyFS mounts a 2 MiB tmpfs on dir (root only); "" when that is not possible.
func mountTinyFS(t *testing.T, dir string) string {
	if os.Geteuid() != 0 {
		t.Logf("not root: cannot mount a tmpfs on %s", dir)
		return ""
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Logf("mount -t tmpfs failed on %s: %v %s", dir, err, out)
		return ""
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == 0x01021994 // TMPFS_MAGIC
}

// fetchAll requests every module at once and returns the answers in order.
func fetchAll(ctx context.Context, e *env, modules []string) []download {
	out := make([]download, len(modules))
	var wg sync.WaitGroup
	for i, m := range modules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = get(ctx, e.url(buildPath(m, "")), nil)
		}()
	}
	wg.Wait()
	return out
}

func modules(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("github.com/e2e-faults/%s-%d", prefix, i)
	}
	return out
}

func cached(e *env, module string) bool {
	_, err := os.Stat(filepath.Join(e.cacheDir, keyOf(module)+".bin"))
	return err == nil
}

// expectAllBuilt fetches mods at once and expects each built now (MISS): with a fault
// cleared, nothing it caused is left to be served.
func expectAllBuilt(ctx context.Context, t *testing.T, e *env, mods []string) {
	t.Helper()
	for i, d := range fetchAll(ctx, e, mods) {
		expectArtifact(t, d, keyOf(mods[i]), artifactSize, "MISS")
	}
}

// expectRefusedUncached fetches mods at once during a fault and expects each refused
// with one of statuses and nothing cached; during says when, for the error.
func expectRefusedUncached(ctx context.Context, t *testing.T, e *env, mods []string, during string, statuses ...int) {
	t.Helper()
	for i, d := range fetchAll(ctx, e, mods) {
		expectRefused(t, d, nil, statuses...)
		if cached(e, mods[i]) {
			t.Errorf("%s cached %s", mods[i], during)
		}
	}
}

func expectNoTemps(t *testing.T, dir string) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "temp_*"))
	if len(names) > 0 {
		t.Errorf("temp files left in the cache directory: %v", names)
	}
}

// expectRefused: an error status with a JSON body, and none of the forbidden bytes.
func expectRefused(t *testing.T, d download, forbidden []byte, statuses ...int) {
	t.Helper()
	expectJSONError(t, d, statuses...)
	if len(forbidden) > 0 && bytes.Contains(d.body, forbidden) {
		t.Fatalf("refused answer carries the file's bytes: %q", d.body)
	}
}

// ---- upstream faults --------------------------------------------------------------------

func refusedConnections(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	mods := modules("refused", 6)
	must(f.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Down}))
	expectRefusedUncached(ctx, t, f.env, mods, "after a refused build", http.StatusBadGateway)
	must(f.velox.SetMode(fakevelox.Mode{}))
	expectAllBuilt(ctx, t, f.env, mods)
}

func resetOnAccept(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	mods := modules("reset-accept", 4)
	f.proxy.set(proxyResetOnAccept, -1)
	for _, d := range fetchAll(ctx, f.env, mods) {
		expectRefused(t, d, nil, http.StatusBadGateway)
	}
	t.Logf("%d connections reset on accept", f.proxy.resets.Load())
	expectCalls(t, f.env, 0)
	f.proxy.set(proxyPass, 0)
	expectAllBuilt(ctx, t, f.env, mods)
}

func resetMidBody(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	mods := modules("reset-body", 4)
	f.proxy.set(proxyResetMidBody, -1)
	// Velox's answer never arrived whole: a transport failure after retries (502), or the
	// build deadline when retries outlast it (504).
	expectRefusedUncached(ctx, t, f.env, mods, "from a cut answer", http.StatusBadGateway, http.StatusGatewayTimeout)
	t.Logf("%d answers cut mid-body, %d upstream calls", f.proxy.resets.Load(), f.velox.Stats().Calls)
	f.proxy.set(proxyPass, 0)
	expectAllBuilt(ctx, t, f.env, mods)
	expectNoTemps(t, f.cacheDir)
}

func resetMidBodyOnce(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 30*time.Second)
	const module = "github.com/e2e-faults/reset-body-once"
	f.proxy.set(proxyResetMidBody, 1)
	expectArtifact(t, get(ctx, f.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	if f.proxy.resets.Load() != 1 {
		t.Fatalf("the proxy cut %d answers, want 1", f.proxy.resets.Load())
	}
	if calls := f.velox.Stats().Calls; calls < 2 {
		t.Fatalf("%d upstream calls: the cut answer was not retried", calls)
	}
}

func hangingUpstream(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	mods := modules("hang", 4)
	must(f.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Hang}))
	var results []download
	done := make(chan struct{})
	start := time.Now()
	go func() { results = fetchAll(ctx, f.env, mods); close(done) }()
	if !f.velox.WaitFor(10*time.Second, func(s fakevelox.Stats) bool { return s.InFlight >= 1 }) {
		t.Fatalf("no build reached the hanging server: %+v", f.velox.Stats())
	}
	// The PHP workers were released: pages do not wait for the hanging builds.
	pageStart := time.Now()
	if d := get(ctx, f.url("/page?size=5000"), nil); d.status != 200 || !bytes.Equal(d.body, phpPage(5000)) {
		t.Fatalf("page during hanging builds: %v", d)
	}
	if took := time.Since(pageStart); took > 2*time.Second {
		t.Errorf("a page took %v while builds hung", took)
	}
	<-done
	for _, d := range results {
		expectRefused(t, d, nil, http.StatusGatewayTimeout)
	}
	if elapsed := time.Since(start); elapsed > buildTimeout+5*time.Second {
		t.Errorf("hanging builds answered after %v (build_timeout %v)", elapsed, buildTimeout)
	}
	if !f.velox.WaitFor(3*time.Second, func(s fakevelox.Stats) bool { return s.InFlight == 0 }) {
		t.Errorf("hanging upstream calls not abandoned: %+v", f.velox.Stats())
	}
}

func fiveXXStorm(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 90*time.Second)
	for _, fail := range []fakevelox.Mode{
		{Kind: fakevelox.Fail, Status: 502},
		{Kind: fakevelox.Fail, Status: 503, Code: "unavailable"},
		{Kind: fakevelox.Fail, Status: 504},
		{Kind: fakevelox.Fail, Status: 429, Code: "resource_exhausted"},
	} {
		mods := modules(fmt.Sprintf("storm-%d", fail.Status), 6)
		must(f.velox.SetMode(fail))
		expectRefusedUncached(ctx, t, f.env, mods, fmt.Sprintf("during a %d storm", fail.Status),
			http.StatusBadGateway, http.StatusGatewayTimeout)
		must(f.velox.SetMode(fakevelox.Mode{}))
		expectAllBuilt(ctx, t, f.env, mods)
	}
	t.Logf("upstream calls over four storms and recoveries: %d", f.velox.Stats().Calls)
}

func conflictStormConcurrent(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	mods := modules("conflict", 6)
	must(f.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Conflict, Count: 12}))
	for i, d := range fetchAll(ctx, f.env, mods) {
		expectArtifact(t, d, keyOf(mods[i]), artifactSize, "")
	}
	if calls := f.velox.Stats().Calls; calls < 12+len(mods) {
		t.Errorf("%d upstream calls, want at least %d (12 conflicts + one build each)", calls, 12+len(mods))
	}
}

// unsafeBuildPaths: Velox answers 200 with a path that must not be served.
func unsafeBuildPaths(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 120*time.Second)
	out := f.velox.OutputDir
	outside := filepath.Join(f.dir, "outside")
	must(os.MkdirAll(outside, 0o755))
	secret := []byte("SECRET-OUTSIDE-THE-ALLOWED-DIRS " + strings.Repeat("x", 1000))
	must(os.WriteFile(filepath.Join(outside, "rr"), secret, 0o755))
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	must(os.Symlink("/etc/passwd", filepath.Join(out, "link-to-passwd")))
	must(os.Symlink(filepath.Join(outside, "rr"), filepath.Join(out, "link-outside")))
	must(os.MkdirAll(filepath.Join(out, "a-directory"), 0o755))
	fifo := filepath.Join(out, "a-fifo")
	must(syscall.Mkfifo(fifo, 0o644))

	cases := []struct {
		name, path string
		forbidden  []byte
	}{
		{"dotdot", out + "/../outside/rr", secret},
		{"symlink_to_etc_passwd", filepath.Join(out, "link-to-passwd"), passwd[:min(len(passwd), 16)]},
		{"symlink_out_of_allowed", filepath.Join(out, "link-outside"), secret},
		{"directory", filepath.Join(out, "a-directory"), nil},
		{"fifo", fifo, nil},
		{"outside_allowed_dirs", filepath.Join(outside, "rr"), secret},
		{"relative", "rr", nil},
		{"missing", filepath.Join(out, "does-not-exist"), nil},
	}
	for _, c := range cases {
		module := "github.com/e2e-faults/unsafe-" + strings.ReplaceAll(c.name, "_", "-")
		must(f.velox.SetMode(fakevelox.Mode{Path: c.path}))
		start := time.Now()
		d := get(ctx, f.url(buildPath(module, "")), nil)
		if d.status == 200 {
			t.Errorf("%s (%s): served %d bytes", c.name, c.path, len(d.body))
			continue
		}
		expectRefused(t, d, c.forbidden, http.StatusBadGateway, http.StatusUnprocessableEntity, http.StatusGatewayTimeout)
		if took := time.Since(start); took > buildTimeout+5*time.Second {
			t.Errorf("%s: refusal took %v", c.name, took)
		}
		if cached(f.env, module) {
			t.Errorf("%s: an entry was cached from %s", c.name, c.path)
		}
		t.Logf("%s: %d %s", c.name, d.status, bytes.TrimSpace(d.body))
	}
	// Refusing must not touch the files it refused.
	if now, err := os.ReadFile("/etc/passwd"); err != nil || !bytes.Equal(now, passwd) {
		t.Errorf("/etc/passwd changed or vanished: %v", err)
	}
	if now, err := os.ReadFile(filepath.Join(outside, "rr")); err != nil || !bytes.Equal(now, secret) {
		t.Errorf("the file outside the allowed dirs changed or vanished: %v", err)
	}
	if _, err := os.Lstat(fifo); err != nil {
		t.Errorf("the fifo vanished: %v", err)
	}
}

// ---- cache directory faults -------------------------------------------------------------

func fullFilesystem(t *testing.T, f *faultEnv) {
	if !onTmpfs(f.cacheDir) {
		t.Skip("cache directory is not on a 2 MiB tmpfs (needs root and mount): skipped")
	}
	ctx := ctxFor(t, 120*time.Second)
	// 2 MiB holds six 300 kB binaries; twelve builds overflow it.
	mods := modules("full", 12)
	for _, m := range mods {
		expectArtifact(t, get(ctx, f.url(buildPath(m, "")), nil), keyOf(m), artifactSize, "MISS")
	}
	var stored []string
	for _, m := range mods {
		if cached(f.env, m) {
			stored = append(stored, m)
		}
	}
	t.Logf("%d of %d builds stored before the filesystem filled up", len(stored), len(mods))
	if len(stored) == 0 || len(stored) == len(mods) {
		t.Fatalf("want some but not all of %d builds stored on a 2 MiB filesystem, got %d", len(mods), len(stored))
	}
	expectNoTemps(t, f.cacheDir)
	// What was stored is still served, whole, from the cache.
	for _, m := range stored {
		expectArtifact(t, get(ctx, f.url(buildPath(m, "")), nil), keyOf(m), artifactSize, "HIT")
	}
	// And a build that cannot be stored is still downloaded, every time.
	last := mods[len(mods)-1]
	if !cached(f.env, last) {
		calls := f.velox.Stats().Calls
		expectArtifact(t, get(ctx, f.url(buildPath(last, "")), nil), keyOf(last), artifactSize, "MISS")
		if f.velox.Stats().Calls != calls+1 {
			t.Errorf("an unstored build was not rebuilt")
		}
	}
	// Room again: a later store works.
	for _, m := range stored {
		must(os.Remove(filepath.Join(f.cacheDir, keyOf(m)+".json")))
		must(os.Remove(filepath.Join(f.cacheDir, keyOf(m)+".bin")))
	}
	again := "github.com/e2e-faults/full-after-room"
	expectArtifact(t, get(ctx, f.url(buildPath(again, "")), nil), keyOf(again), artifactSize, "MISS")
	expectArtifact(t, get(ctx, f.url(buildPath(again, "")), nil), keyOf(again), artifactSize, "HIT")
}

func readOnlyCache(t *testing.T, f *faultEnv) {
	if !onTmpfs(f.cacheDir) {
		t.Skip("cache directory is not on a tmpfs (needs root and mount): skipped")
	}
	ctx := ctxFor(t, 60*time.Second)
	const before = "github.com/e2e-faults/ro-before"
	expectArtifact(t, get(ctx, f.url(buildPath(before, "")), nil), keyOf(before), artifactSize, "MISS")
	mountPoint := filepath.Dir(f.cacheDir)
	if out, err := exec.Command("mount", "-o", "remount,ro", mountPoint).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	defer func() {
		if out, err := exec.Command("mount", "-o", "remount,rw", mountPoint).CombinedOutput(); err != nil {
			t.Errorf("remount rw: %v %s", err, out)
		}
	}()
	expectArtifact(t, get(ctx, f.url(buildPath(before, "")), nil), keyOf(before), artifactSize, "HIT")
	for _, m := range modules("ro", 3) {
		expectArtifact(t, get(ctx, f.url(buildPath(m, "")), nil), keyOf(m), artifactSize, "MISS")
		if cached(f.env, m) {
			t.Errorf("%s stored on a read-only filesystem?", m)
		}
	}
}

func corruptEntries(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	// Make room on the tiny filesystem first.
	clearDir(t, f.cacheDir)
	mods := modules("corrupt", 4)
	for _, m := range mods {
		expectArtifact(t, get(ctx, f.url(buildPath(m, "")), nil), keyOf(m), artifactSize, "MISS")
	}
	path := func(m, ext string) string { return filepath.Join(f.cacheDir, keyOf(m)+ext) }
	// 0: metadata replaced by garbage; 1: binary truncated; 2: binary grown;
	// 3: metadata claiming another size.
	must(os.WriteFile(path(mods[0], ".json"), []byte("{not json at all"), 0o644))
	must(os.Truncate(path(mods[1], ".bin"), artifactSize/2))
	fh, err := os.OpenFile(path(mods[2], ".bin"), os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = fh.Write([]byte("TRAILING GARBAGE"))
	must(err)
	must(fh.Close())
	meta, err := os.ReadFile(path(mods[3], ".json"))
	must(err)
	must(os.WriteFile(path(mods[3], ".json"),
		bytes.Replace(meta, []byte(fmt.Sprint(artifactSize)), []byte(fmt.Sprint(artifactSize+7)), 1), 0o644))
	// A key this RoadRunner never saw, with corrupt metadata (as from another process).
	stranger := "github.com/e2e-faults/corrupt-stranger"
	must(os.WriteFile(path(stranger, ".json"), []byte(`{"hash": 12, "file_size": "big"}`), 0o644))
	must(os.WriteFile(path(stranger, ".bin"), []byte("not the build"), 0o644))

	for round := 0; round < 2; round++ {
		for _, m := range append(mods, stranger) {
			d := get(ctx, f.url(buildPath(m, "")), nil)
			expectArtifact(t, d, keyOf(m), artifactSize, "")
			t.Logf("round %d %s: %s", round, m[strings.LastIndex(m, "/")+1:], d.header.Get("X-Velox-Cache"))
		}
	}
	expectNoTemps(t, f.cacheDir)
}

func cacheDirDeleted(t *testing.T, f *faultEnv) {
	ctx := ctxFor(t, 60*time.Second)
	clearDir(t, f.cacheDir)
	const module = "github.com/e2e-faults/deleted"
	expectArtifact(t, get(ctx, f.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	must(os.RemoveAll(f.cacheDir))
	// The hit is gone with the directory: rebuilt, not an error.
	expectArtifact(t, get(ctx, f.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "")
	for _, m := range modules("deleted", 3) {
		expectArtifact(t, get(ctx, f.url(buildPath(m, "")), nil), keyOf(m), artifactSize, "")
	}
	// The directory comes back (an operator recreates it): the cache works again.
	must(os.MkdirAll(f.cacheDir, 0o755))
	const later = "github.com/e2e-faults/deleted-later"
	expectArtifact(t, get(ctx, f.url(buildPath(later, "")), nil), keyOf(later), artifactSize, "MISS")
	expectArtifact(t, get(ctx, f.url(buildPath(later, "")), nil), keyOf(later), artifactSize, "HIT")
}

func clearDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		must(os.RemoveAll(filepath.Join(dir, e.Name())))
	}
}
