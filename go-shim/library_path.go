package velox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvLibraryPath names the environment variable that points at the shared library
// (purego backend).
const EnvLibraryPath = "VELOX_MIDDLEWARE_LIB"

// libraryCandidate is one place the purego backend looks for the shared library.
type libraryCandidate struct {
	where string // for the error message: "velox.library_path", "$VELOX_MIDDLEWARE_LIB", ...
	path  string // what dlopen gets
}

func sharedLibraryName() string {
	if runtime.GOOS == "darwin" {
		return "libvelox_middleware.dylib"
	}
	return "libvelox_middleware.so"
}

// libraryCandidates lists, in order: the configured path, the environment variable,
// the file next to the executable, then the bare name for the system's search path
// (LD_LIBRARY_PATH, ld.so.cache, the default directories).
func libraryCandidates(configured string) []libraryCandidate {
	name := sharedLibraryName()
	var out []libraryCandidate
	if configured != "" {
		out = append(out, libraryCandidate{"velox.library_path", configured})
	}
	if env := os.Getenv(EnvLibraryPath); env != "" {
		out = append(out, libraryCandidate{"$" + EnvLibraryPath, env})
	}
	if exe, err := os.Executable(); err == nil {
		out = append(out, libraryCandidate{"next to the executable", filepath.Join(filepath.Dir(exe), name)})
	}
	return append(out, libraryCandidate{"system library search path", name})
}

// loadError reports every place that was tried and why each failed.
type loadError struct {
	tried []string
}

func (e *loadError) add(c libraryCandidate, err error) {
	e.tried = append(e.tried, fmt.Sprintf("%s (%s): %v", c.where, c.path, err))
}

func (e *loadError) Error() string {
	return "velox: cannot load the shared library " + sharedLibraryName() + "; set velox.library_path or $" +
		EnvLibraryPath + ", or place it next to the executable. Tried:\n  " + strings.Join(e.tried, "\n  ")
}
