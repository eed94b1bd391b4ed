package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// TestE2EDemoBrowser opens the demo page in a real headless Chromium in front of a build
// that takes longer than the page's first wait (respond_after 1s, a 5 s fake build): in
// real time the page is answered 202, polls, and the browser saves the binary; with
// virtual time it shows "Building… N s" (the screenshot), then ends with the download. Chromium is optional (`scripts/install-deps.sh browser`); without it the
// test is skipped, unless VELOX_E2E_BROWSER=1 says it must run. With
// VELOX_E2E_SCREENSHOT=<file> the progress screenshot is kept (demo/building.png).
func TestE2EDemoBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		if os.Getenv("VELOX_E2E_BROWSER") == "1" {
			t.Fatal("VELOX_E2E_BROWSER=1 but no chromium found (scripts/install-deps.sh browser)")
		}
		t.Skip("no chromium installed (scripts/install-deps.sh browser)")
	}
	bin := binaries()[0]
	worker := filepath.Join(repoRoot(t), "demo", "worker.php")
	e := newEnvConfigured(t, bin, worker, nil, func(c *rrConfig) {
		c.BuildTimeout = "60s"
		c.RequestTimeout = "30s"
		c.BuildLinger = ""
		c.RespondAfter = "1s"
	})
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 5 * time.Second}))

	// In real time, as a user sees it: the first answer is a 202 (the build takes 5 s,
	// respond_after is 1 s), the page polls, and the browser saves the binary. Chromium
	// stays up (remote debugging on) until the file is there.
	home := t.TempDir()
	var saved []byte
	downloaded := func() bool {
		files, _ := filepath.Glob(filepath.Join(home, "Downloads", "rr-*"))
		if len(files) == 1 && !strings.HasSuffix(files[0], ".crdownload") {
			saved, _ = os.ReadFile(files[0])
		}
		return len(saved) == artifactSize
	}
	before := scrape(t, e)
	browse(t, browser, home, e.url("/#download"), downloaded, "--remote-debugging-port=0")
	expectCalls(t, e, 1)
	if want := fakevelox.Content(e.velox.Calls()[0].Key, artifactSize); !bytes.Equal(saved, want) {
		t.Fatalf("the saved file differs from the build: sha256 %s, want %s", sum(saved), sum(want))
	}
	after := scrape(t, e)
	if got := after["velox_async_answers_total"] - before["velox_async_answers_total"]; got < 1 {
		t.Fatalf("the page got no 202 on its way to the binary (velox_async_answers_total +%v)", got)
	}
	t.Logf("real time: %v answers 202, then the binary was saved", after["velox_async_answers_total"]-before["velox_async_answers_total"])

	// What the page shows meanwhile, for a cold build again (long enough to outlast both
	// looks): virtual time runs the page's timers while no fetch is pending, so a small
	// budget ends while the page waits to ask again after its first 202.
	clearDir(t, e.cacheDir)
	must(e.velox.Reset())
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 15 * time.Second}))
	shot := filepath.Join(t.TempDir(), "building.png")
	runChromium(t, browser, t.TempDir(), e.url("/#download"), "1500", "--screenshot="+shot)
	progress := statusOf(runChromium(t, browser, t.TempDir(), e.url("/#download"), "1500", "--dump-dom"))
	if !strings.Contains(progress, "Building… ") || !strings.Contains(progress, "asks again") {
		t.Fatalf("the page does not show the build's progress: %s", progress)
	}
	t.Logf("progress: %s", progress)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	if keep := os.Getenv("VELOX_E2E_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		must(os.WriteFile(keep, data, 0o644))
	}
	// And how it ends: the page keeps polling until the answer is the file.
	done := statusOf(runChromium(t, browser, t.TempDir(), e.url("/#download"), "120000", "--dump-dom"))
	if !strings.Contains(done, "MiB in") || !strings.Contains(done, "X-Velox-Cache: HIT") &&
		!strings.Contains(done, "X-Velox-Cache: JOINED") {
		t.Fatalf("the page did not end with the download: %s", done)
	}
	t.Logf("done: %s", done)
	expectCalls(t, e, 1)
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium loads url headless with a virtual time budget (ms) and returns what it
// printed (the DOM for --dump-dom; nothing for --screenshot=file). Chromium does not exit
// while a download it started is open, so once the DOM or the file is there it is killed.
func runChromium(t *testing.T, browser, home, url, budget string, extra ...string) string {
	t.Helper()
	args := append([]string{"--virtual-time-budget=" + budget}, extra...)
	return chromium(t, browser, home, url, args, func(out string) bool {
		for _, a := range extra {
			if shot, ok := strings.CutPrefix(a, "--screenshot="); ok {
				st, err := os.Stat(shot)
				return err == nil && st.Size() > 0
			}
		}
		return strings.Contains(out, "</html>")
	})
}

// browse loads url in real time and returns once done() holds (bounded).
func browse(t *testing.T, browser, home, url string, done func() bool, extra ...string) {
	t.Helper()
	chromium(t, browser, home, url, extra, func(string) bool { return done() })
}

// chromium runs a headless Chromium with HOME set to home (downloads land in
// home/Downloads) in its own process group, until it exits or enough(stdout) holds, and
// kills it then; at most 3 minutes.
func chromium(t *testing.T, browser, home, url string, extra []string, enough func(string) bool) string {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--window-size=900,1100"}, extra...)
	cmd := exec.Command(browser, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &syncBuffer{}
	var errOut strings.Builder
	cmd.Stdout, cmd.Stderr = out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", browser, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("%s: %v\n%s", browser, err, tail(errOut.String(), 20))
			}
			if !enough(out.String()) {
				t.Fatalf("%s exited before it was done:\n%s", browser, tail(errOut.String(), 20))
			}
			return out.String()
		case <-deadline:
			t.Fatalf("%s did not finish within 3 minutes:\n%s", browser, tail(errOut.String(), 20))
		case <-time.After(100 * time.Millisecond):
			if enough(out.String()) {
				return out.String()
			}
		}
	}
}

// statusOf cuts the page's status element out of a DOM dump (the page's script, which
// holds the same words, comes after it).
func statusOf(dom string) string {
	i := strings.Index(dom, `<div id="status"`)
	if i < 0 {
		return "(no status element) " + dom
	}
	s := dom[i:]
	if j := strings.Index(s, "</div>"); j >= 0 {
		s = s[:j]
	}
	return s
}
