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

	"github.com/velox-middleware/go-shim/fakevelox"
)

// TestE2EDemoBrowser opens the demo page in a real headless Chromium in front of a build
// that takes longer than the page's first wait (respond_after 1s, a 5 s fake build): the
// page must show "Building… N s" while it polls, then fetch the binary and start the
// download. Chromium is optional (`scripts/install-deps.sh browser`); without it the
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

	// Progress: virtual time runs the page's timers while no fetch is pending, so a small
	// budget ends right after the first 202 has been shown.
	shot := filepath.Join(t.TempDir(), "building.png")
	runChromium(t, browser, t.TempDir(), e.url("/#download"), "4000", "--screenshot="+shot)
	progress := runChromium(t, browser, t.TempDir(), e.url("/#download"), "4000", "--dump-dom")
	if !strings.Contains(progress, "Building…") {
		t.Fatalf("the page does not show the build's progress:\n%s", statusOf(progress))
	}
	t.Logf("progress: %s", statusOf(progress))
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	if keep := os.Getenv("VELOX_E2E_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		must(os.WriteFile(keep, data, 0o644))
	}

	// Then the binary: the page keeps polling until the answer is the file.
	home := t.TempDir()
	var saved []byte
	downloaded := func() bool {
		files, _ := filepath.Glob(filepath.Join(home, "Downloads", "rr-*"))
		if len(files) == 1 && !strings.HasSuffix(files[0], ".crdownload") {
			saved, _ = os.ReadFile(files[0])
		}
		return len(saved) == artifactSize
	}
	done := runChromiumUntil(t, browser, home, e.url("/#download"), "120000", downloaded, "--dump-dom")
	status := statusOf(done)
	if !strings.Contains(status, "MiB in") || !strings.Contains(status, "X-Velox-Cache: HIT") &&
		!strings.Contains(status, "X-Velox-Cache: JOINED") {
		t.Fatalf("the page did not end with the download: %s", status)
	}
	t.Logf("done: %s", status)
	// The browser saved the very bytes the build produced.
	expectCalls(t, e, 1)
	if want := fakevelox.Content(e.velox.Calls()[0].Key, artifactSize); !bytes.Equal(saved, want) {
		t.Fatalf("the saved file differs from the build: sha256 %s, want %s", sum(saved), sum(want))
	}
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium loads url headless with a virtual time budget (ms), HOME set to home (so a
// download lands in home/Downloads), and returns the DOM dump or "" for a screenshot.
// Chromium does not exit while a download it started is open, so once the DOM has been
// printed it is killed (its own process group, bounded by a deadline).
func runChromium(t *testing.T, browser, home, url, budget string, extra ...string) string {
	t.Helper()
	return runChromiumUntil(t, browser, home, url, budget, func() bool { return true }, extra...)
}

// runChromiumUntil is runChromium waiting, after the DOM is printed, for done too.
func runChromiumUntil(t *testing.T, browser, home, url, budget string, done func() bool, extra ...string) string {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--window-size=900,1100",
		"--virtual-time-budget=" + budget}, extra...)
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
			return out.String()
		case <-deadline:
			t.Fatalf("%s did not finish within 3 minutes:\n%s", browser, tail(errOut.String(), 20))
		case <-time.After(100 * time.Millisecond):
			if strings.Contains(out.String(), "</html>") && done() {
				return out.String()
			}
		}
	}
}

// statusOf cuts the page's status line out of a DOM dump.
func statusOf(dom string) string {
	i := strings.Index(dom, `id="status"`)
	if i < 0 {
		return "(no status element) " + dom
	}
	s := dom[i:]
	if j := strings.Index(s, "</div>"); j >= 0 {
		s = s[:j]
	}
	return s
}
