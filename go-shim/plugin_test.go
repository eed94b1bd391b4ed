package velox

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	rrerrors "github.com/roadrunner-server/errors"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// The shape RoadRunner's container (endure) and http plugin look for. A wrong Init
// signature makes endure disable the plugin silently, so it is pinned here.
var _ interface {
	Init(cfg Configurer, log Logger) error
	Serve() chan error
	Stop(ctx context.Context) error
	Name() string
	Middleware(next http.Handler) http.Handler
} = (*Plugin)(nil)

func TestNameIsVelox(t *testing.T) {
	if (&Plugin{}).Name() != "velox" {
		t.Fatal("plugin name must be velox")
	}
}

func TestMissingSectionDisablesThePlugin(t *testing.T) {
	log, _ := newObservedLogger()
	err := (&Plugin{}).Init(testConfig{"http": map[string]any{}}, log)
	if !rrerrors.Is(rrerrors.Disabled, err) {
		t.Fatalf("Init without a velox section: %v, want errors.Disabled", err)
	}
}

func TestConfigurationErrorsFailInitNamingTheKey(t *testing.T) {
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fv.Close()
	cases := map[string]func(map[string]any){
		"server_ur":     func(m map[string]any) { m["server_ur"] = m["server_url"] },
		"build_timeout": func(m map[string]any) { m["build_timeout"] = "soon" },
		"max_attempts":  func(m map[string]any) { m["retry"].(map[string]any)["max_attempts"] = "many" },
	}
	for key, mutate := range cases {
		section := engineSection(t, fv)
		mutate(section)
		log, _ := newObservedLogger()
		err := (&Plugin{}).Init(testConfig{PluginName: section}, log)
		if err == nil {
			t.Fatalf("%s: Init accepted a bad configuration", key)
		}
		if rrerrors.Is(rrerrors.Disabled, err) || !strings.Contains(err.Error(), key) {
			t.Fatalf("%s: Init error does not name the key: %v", key, err)
		}
	}
}

// `server_url: ${VELOX_URL}` with the variable unset arrives as "": Init must fail
// naming the key (and how to opt into local builds), not start building with go.
func TestEmptyServerURLFailsInitNamingTheKey(t *testing.T) {
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fv.Close()
	for name, mutate := range map[string]func(map[string]any){
		"empty":  func(m map[string]any) { m["server_url"] = "" },
		"absent": func(m map[string]any) { delete(m, "server_url") },
	} {
		section := engineSection(t, fv)
		mutate(section)
		log, _ := newObservedLogger()
		p := &Plugin{}
		err := p.Init(testConfig{PluginName: section}, log)
		if err == nil || rrerrors.Is(rrerrors.Disabled, err) {
			t.Fatalf("%s server_url: Init = %v, want a configuration error", name, err)
		}
		for _, want := range []string{"server_url", "local_build_enabled"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s server_url: Init error does not mention %s: %v", name, want, err)
			}
		}
		if p.Engine() != nil {
			t.Errorf("%s server_url: an engine was created", name)
		}
	}
}

func TestConfigIsNormalisedAndLibraryPathStaysInGo(t *testing.T) {
	cfg := testConfig{PluginName: map[string]any{
		"library_path": "/opt/velox/libvelox_middleware.so",
		"server_url":   "http://127.0.0.1:9",
		"retry":        map[any]any{"max_attempts": 3, "nested": map[any]any{1: "one"}},
		"allowed_build_dirs": []any{
			"/tmp", map[any]any{"odd": true},
		},
	}}
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.libraryPath != "/opt/velox/libvelox_middleware.so" {
		t.Fatalf("library_path = %q", c.libraryPath)
	}
	var back map[string]any
	if err := json.Unmarshal(c.engineJSON, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back["library_path"]; ok {
		t.Fatal("library_path reached the library, which refuses unknown keys")
	}
	if back["retry"].(map[string]any)["nested"].(map[string]any)["1"] != "one" {
		t.Fatalf("nested map[any]any not normalised: %s", c.engineJSON)
	}

	bad := testConfig{PluginName: map[string]any{"library_path": 42}}
	if _, err := loadConfig(bad); err == nil || !strings.Contains(err.Error(), "library_path") {
		t.Fatalf("a non-string library_path: %v", err)
	}
}

func TestLibraryVersionMustMatchMajorAndMinorWhileZero(t *testing.T) {
	cases := []struct {
		want, got string
		ok        bool
	}{
		{"0.1.0", "0.1.0", true},
		{"0.1.0", "0.1.7", true},
		{"0.1.0", "0.2.0", false},
		{"0.1.0", "1.1.0", false},
		{"1.2.0", "1.5.3", true},
		{"1.2.0", "2.0.0", false},
		{"0.1.0", "garbage", false},
		{"0.1.0", "", false},
	}
	for _, c := range cases {
		if compatibleVersion(c.want, c.got) != c.ok {
			t.Errorf("compatibleVersion(%q, %q) = %v", c.want, c.got, !c.ok)
		}
	}
	if err := checkVersion("9.9.9"); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Fatalf("checkVersion: %v", err)
	}
	if LibraryVersion() == "" || !compatibleVersion(abiVersion, LibraryVersion()) {
		t.Fatalf("the library under test reports %q", LibraryVersion())
	}
}

func TestLibraryCandidatesComeInTheDocumentedOrder(t *testing.T) {
	t.Setenv(EnvLibraryPath, "/from/env.so")
	c := libraryCandidates("/from/config.so")
	var wheres []string
	for _, x := range c {
		wheres = append(wheres, x.where)
	}
	got := strings.Join(wheres, ",")
	want := "velox.library_path,$VELOX_MIDDLEWARE_LIB,next to the executable,system library search path"
	if got != want || c[0].path != "/from/config.so" || c[1].path != "/from/env.so" || c[3].path != sharedLibraryName() {
		t.Fatalf("candidates: %+v", c)
	}
}
