package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// replacedPath asks for module with a replace of it by fork (module@version).
func replacedPath(module, fork string) string {
	return buildPath(module, "&replace="+url.QueryEscape(module+"="+fork))
}

// keyOfReplaced is the key of replacedPath's request.
func keyOfReplaced(module, fork string) string {
	return fakevelox.Build{
		RRVersion:      rrVersion,
		TargetPlatform: fakevelox.Platform{OS: "linux", Arch: "amd64"},
		Plugins:        []fakevelox.Plugin{{ModuleName: module, Tag: tag}},
		Replaces:       []fakevelox.Replace{{Old: module, New: fork}},
	}.Key()
}

// A released Velox drops the replace and builds the plain combination: the build
// information shows it, and the binary is refused (never cached, never served) with a
// message that names the dropped field. A Velox that honours the replace is served.
// Two modules, so that the first one's failure memory does not answer the second.
func replaceNeedsAVeloxThatKnowsIt(t *testing.T, e *env) {
	ctx := ctxFor(t, 30*time.Second)
	const fork = "github.com/e2e/fork@v1.0.1"

	const refused = "github.com/e2e/replaced-by-released-velox"
	must(e.velox.SetMode(fakevelox.Mode{Kind: fakevelox.Released}))
	body := expectJSONError(t, get(ctx, e.url(replacedPath(refused, fork)), nil), http.StatusBadGateway)
	if body["code"] != "build_mismatch" || !strings.Contains(fmt.Sprint(body["error"]), "replaces") {
		t.Fatalf("want code build_mismatch and a message naming replaces, got %v", body)
	}
	expectCalls(t, e, 1)
	if _, err := os.Stat(filepath.Join(e.cacheDir, keyOfReplaced(refused, fork)+".bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused binary was cached (stat: %v)", err)
	}

	const served = "github.com/e2e/replaced-by-velox-master"
	must(e.velox.SetMode(fakevelox.Mode{}))
	key := keyOfReplaced(served, fork)
	expectArtifact(t, get(ctx, e.url(replacedPath(served, fork)), nil), key, artifactSize, "MISS")
	expectArtifact(t, get(ctx, e.url(replacedPath(served, fork)), nil), key, artifactSize, "HIT")
	expectCalls(t, e, 2)
}
