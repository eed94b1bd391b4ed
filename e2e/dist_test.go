package e2e

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// distFiles are what `make dist` must put in the archive.
var distFiles = []string{
	"libvelox_middleware.so", "libvelox_middleware.a", "velox_middleware.h",
	"OPERATORS.md", "velox.toml", "GLIBC_MINIMUM", "README", "SHA256SUMS",
}

// `make dist`'s archive, unpacked into a temporary directory, is complete, its
// SHA256SUMS hold, GLIBC_MINIMUM is a version, and build/rr-purego serves a build with
// the .so from inside it (velox.library_path), the way an operator installs it.
func TestE2EDist(t *testing.T) {
	root := repoRoot(t)
	matches, _ := filepath.Glob(filepath.Join(root, "dist", "velox-middleware-*-"+runtime.GOOS+"-"+runtime.GOARCH+".tar.gz"))
	if len(matches) == 0 {
		t.Fatalf("no dist/velox-middleware-*-%s-%s.tar.gz: run `make dist` first", runtime.GOOS, runtime.GOARCH)
	}
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
	dir := unpack(t, matches[0])
	t.Logf("unpacked %s", filepath.Base(matches[0]))

	for _, f := range distFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the archive lacks %s: %v", f, err)
		}
	}
	checkSums(t, dir)
	glibc, err := os.ReadFile(filepath.Join(dir, "GLIBC_MINIMUM"))
	if err != nil || !regexp.MustCompile(`^2\.[0-9]+\n$`).Match(glibc) {
		t.Fatalf("GLIBC_MINIMUM = %q (%v), want a glibc version such as 2.34", glibc, err)
	}

	e := newEnv(t, "rr-purego", nil)
	e.stop(true)
	lib := filepath.Join(dir, "libvelox_middleware.so")
	e.cfg.LibraryPath = lib
	e.start()
	const module = "github.com/e2e/dist"
	ctx := ctxFor(t, 60*time.Second)
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
	expectArtifact(t, get(ctx, e.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
	if !strings.Contains(e.rr.log.String(), `"library": "`+lib+`"`) {
		t.Fatalf("RoadRunner did not load the unpacked library %s:\n%s", lib, tail(e.rr.log.String(), 30))
	}
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// unpack extracts a .tar.gz with one top directory and returns that directory.
func unpack(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	top := ""
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			t.Fatalf("unsafe path in the archive: %s", h.Name)
		}
		top = strings.Split(name, string(filepath.Separator))[0]
		path := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			must(os.MkdirAll(path, 0o755))
		case tar.TypeReg:
			must(os.MkdirAll(filepath.Dir(path), 0o755))
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(h.Mode)&0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			must(out.Close())
		default:
			t.Fatalf("unexpected entry type %c in the archive: %s", h.Typeflag, h.Name)
		}
	}
	if top == "" {
		t.Fatal("empty archive")
	}
	return filepath.Join(dest, top)
}

// checkSums verifies SHA256SUMS ("<hex>  <name>" lines, sha256sum's format) and that it
// covers every other file.
func checkSums(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `<sha256>  <file>`", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("SHA256SUMS lists %s: %v", name, err)
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, got, want)
		}
		listed[name] = true
	}
	for _, name := range distFiles {
		if name != "SHA256SUMS" && !listed[name] {
			t.Errorf("SHA256SUMS does not cover %s", name)
		}
	}
}
