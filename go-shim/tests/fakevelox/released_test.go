package fakevelox

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
)

// Velox's master line builds a request's replace in; a released Velox discards the field
// and builds the plain combination. The key each names its build with says which.
func TestReleasedModeBuildsWithoutTheFieldsItDoesNotKnow(t *testing.T) {
	body := strings.Replace(validBody, `"plugins"`,
		`"replaces":[{"old":"github.com/roadrunner-server/http/v5","new":"github.com/fork/http/v5@v5.3.1"}],"race":true,"plugins"`, 1)
	plugins := []Plugin{{"github.com/roadrunner-server/http/v5", "v5.3.0"}}
	asked := Build{RRVersion: "v2025.1.15", TargetPlatform: Platform{"linux", "amd64"}, Plugins: plugins,
		Replaces: []Replace{{"github.com/roadrunner-server/http/v5", "github.com/fork/http/v5@v5.3.1"}}, Race: true}
	plain := Build{RRVersion: "v2025.1.15", TargetPlatform: Platform{"linux", "amd64"}, Plugins: plugins}

	for _, tc := range []struct {
		control string
		want    Build
		replace bool
	}{
		{`{"kind":""}`, asked, true},
		{`{"kind":"released"}`, plain, false},
	} {
		s := start(t)
		resp, err := http.Post(s.ControlURL+"/_control", "application/json", strings.NewReader(tc.control))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("control %s: %v %v", tc.control, resp, err)
		}
		resp.Body.Close()
		status, out := build(context.Background(), t, s, body)
		if status != 200 {
			t.Fatalf("%s: status %d %v", tc.control, status, out)
		}
		if got, want := s.Calls()[0].Key, tc.want.Key(); got != want || want == "" {
			t.Fatalf("%s: built under key %q, want %q", tc.control, got, want)
		}
		bin, err := os.ReadFile(out["path"])
		if err != nil {
			t.Fatal(err)
		}
		info := readBuildInfo(t, bin)
		if got := info.Deps[0].Replace != nil; got != tc.replace {
			t.Fatalf("%s: replaced %v, want %v (%v)", tc.control, got, tc.replace, info)
		}
		if got := settings(info)["-race"] == "true"; got != tc.replace {
			t.Fatalf("%s: race %v, want %v", tc.control, got, tc.replace)
		}
	}
}
