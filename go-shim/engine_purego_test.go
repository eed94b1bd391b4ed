//go:build (!cgo || !velox_cgo) && (linux || darwin)

package velox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPuregoLoadErrorNamesEveryPlaceTried(t *testing.T) {
	notALib := filepath.Join(t.TempDir(), "libvelox_middleware.so")
	if err := os.WriteFile(notALib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := openLibrary([]libraryCandidate{
		{"velox.library_path", "/nonexistent/libvelox_middleware.so"},
		{"$" + EnvLibraryPath, notALib},
	})
	if err == nil {
		t.Fatal("openLibrary succeeded with no usable candidate")
	}
	msg := err.Error()
	for _, want := range []string{"velox.library_path", "/nonexistent/libvelox_middleware.so", "$VELOX_MIDDLEWARE_LIB", notALib} {
		if !strings.Contains(msg, want) {
			t.Errorf("load error does not mention %q:\n%s", want, msg)
		}
	}
}
