package fakevelox

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"runtime/debug"
	"strings"
	"testing"
)

// Go's own readers are the reference: debug/elf must open the fake's binaries and
// debug/buildinfo must read back what the build asked for.
func readBuildInfo(t *testing.T, bin []byte) *debug.BuildInfo {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("debug/elf: %v", err)
	}
	if s := f.Section(".go.buildinfo"); s == nil || s.Addr%16 != 0 {
		t.Fatalf("no 16-byte aligned .go.buildinfo section: %+v", s)
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("debug/buildinfo: %v", err)
	}
	return info
}

func settings(info *debug.BuildInfo) map[string]string {
	out := map[string]string{}
	for _, s := range info.Settings {
		out[s.Key] = s.Value
	}
	return out
}

func TestBinaryCarriesTheRequestedModulesAndPlatform(t *testing.T) {
	b := Build{
		RRVersion:      "v2025.1.15",
		TargetPlatform: Platform{"windows", "arm64"},
		Plugins: []Plugin{
			{"github.com/roadrunner-server/http/v5", "v5.3.0"},
			{"github.com/example/branchy", "main"},
			{"github.com/example/pinned/v3", "0123456789abcdef0123"},
		},
	}
	info := readBuildInfo(t, b.content("k", 8192))
	if info.GoVersion != goVersion || info.Path != "github.com/roadrunner-server/roadrunner/v2025/cmd/rr" {
		t.Fatalf("go %q path %q", info.GoVersion, info.Path)
	}
	if info.Main.Path != "github.com/roadrunner-server/roadrunner/v2025" || info.Main.Version != "v2025.1.15" {
		t.Fatalf("main %+v", info.Main)
	}
	got := map[string]string{}
	for _, d := range info.Deps {
		if d.Replace != nil || !strings.HasPrefix(d.Sum, "h1:") {
			t.Fatalf("dep %+v", d)
		}
		got[d.Path] = d.Version
	}
	if got["github.com/roadrunner-server/http/v5"] != "v5.3.0" {
		t.Fatalf("semver tag not linked as is: %v", got)
	}
	if v := got["github.com/example/branchy"]; !strings.HasPrefix(v, "v0.0.0-20250101000000-") || len(v) != len("v0.0.0-20250101000000-")+12 {
		t.Fatalf("branch not a pseudo-version: %q", v)
	}
	if v := got["github.com/example/pinned/v3"]; v != "v3.0.0-20250101000000-0123456789ab" {
		t.Fatalf("commit not a pseudo-version of its revision: %q", v)
	}
	want := map[string]string{"GOOS": "windows", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true"}
	for k, v := range want {
		if settings(info)[k] != v {
			t.Fatalf("setting %s = %q, want %q (all: %v)", k, settings(info)[k], v, info.Settings)
		}
	}
	if _, race := settings(info)["-race"]; race {
		t.Fatal("-race set without race")
	}
}

func TestBinaryCarriesReplacesRaceAndDebug(t *testing.T) {
	b := Build{
		RRVersion:      "v2025.1.15",
		TargetPlatform: Platform{"linux", "amd64"},
		Plugins:        []Plugin{{"github.com/roadrunner-server/http/v5", "v5.3.0"}},
		Replaces: []Replace{
			{Old: "github.com/roadrunner-server/http/v5", New: "github.com/fork/http/v5@v5.3.1"},
			{Old: "golang.org/x/net@v0.30.0", New: "./vendor/net"},
		},
		Race:  true,
		Debug: true,
	}
	info := readBuildInfo(t, b.content("k", 4096))
	replaced := map[string]debug.Module{}
	for _, d := range info.Deps {
		if d.Replace == nil {
			t.Fatalf("dep %+v not replaced", d)
		}
		if d.Sum != "" {
			t.Fatalf("a replaced dep has no sum of its own in Go's format: %+v", d)
		}
		replaced[d.Path+"@"+d.Version] = *d.Replace
	}
	if r := replaced["github.com/roadrunner-server/http/v5@v5.3.0"]; r.Path != "github.com/fork/http/v5" || r.Version != "v5.3.1" || !strings.HasPrefix(r.Sum, "h1:") {
		t.Fatalf("plugin replace %+v (all %v)", r, replaced)
	}
	if r := replaced["golang.org/x/net@v0.30.0"]; r.Path != "./vendor/net" || r.Version != "(devel)" || r.Sum != "" {
		t.Fatalf("directory replace %+v (all %v)", r, replaced)
	}
	s := settings(info)
	if s["-race"] != "true" || s["CGO_ENABLED"] != "1" || s["-gcflags"] != "all=-N -l" {
		t.Fatalf("settings %v", info.Settings)
	}
}

func TestRoadRunnerModuleFollowsTheMajorOfRRVersion(t *testing.T) {
	for rr, want := range map[string]string{
		"v2025.1.15": "github.com/roadrunner-server/roadrunner/v2025",
		"v2024.3.0":  "github.com/roadrunner-server/roadrunner/v2024",
		"v1.0.0":     "github.com/roadrunner-server/roadrunner",
		"master":     "github.com/roadrunner-server/roadrunner/v2025",
	} {
		b := Build{RRVersion: rr, TargetPlatform: Platform{"linux", "amd64"}, Plugins: []Plugin{{"x.test/p", "v1.0.0"}}}
		if info := readBuildInfo(t, b.content("k", 0)); info.Main.Path != want {
			t.Fatalf("rr %s: main %q, want %q", rr, info.Main.Path, want)
		}
	}
}

func TestContentIsDeterministicAndPaddedToSize(t *testing.T) {
	b := Build{RRVersion: "v2025.1.15", TargetPlatform: Platform{"linux", "amd64"}, Plugins: []Plugin{{"x.test/p", "v1.0.0"}}}
	small := b.content("k", 0)
	if len(small) > 1000 {
		t.Fatalf("a one-plugin executable takes %d bytes; tests ask for 1000", len(small))
	}
	for _, size := range []int{len(small), 1000, 64 << 10} {
		one, two := b.content("k", size), b.content("k", size)
		if len(one) != size || !bytes.Equal(one, two) {
			t.Fatalf("size %d: got %d bytes, deterministic %v", size, len(one), bytes.Equal(one, two))
		}
		readBuildInfo(t, one)
	}
	if bytes.Equal(b.content("k", 4096), b.content("other", 4096)) {
		t.Fatal("two keys, the same bytes")
	}
}
