//go:build (!cgo || !velox_cgo) && !linux && !darwin

package velox

// The backend for systems where this plugin cannot load the library: purego's dlopen
// exists only on unix systems, and on FreeBSD its cgo-free runtime support does not
// build with current Go. RoadRunner is released for these systems too (windows,
// freebsd), and a Velox build for them must still compile: the plugin compiles, and
// Init fails with this message instead. The velox_cgo backend may still work there
// (`-tags velox_cgo` with a C toolchain and the static library); it is not tested.

import (
	"errors"
	"runtime"
	"unsafe"
)

type (
	engineHandle   = unsafe.Pointer
	cancelHandle   = unsafe.Pointer
	artifactHandle = unsafe.Pointer
)

// Backend names the way the library is bound, for logs.
const Backend = "unsupported"

// errUnsupported is what every entry point returns on this system.
var errUnsupported = errors.New("velox: the velox middleware cannot load its library on " +
	runtime.GOOS + "/" + runtime.GOARCH + " (supported: linux and darwin, amd64 and arm64); " +
	"remove \"velox\" from http.middleware and the velox section, or run RoadRunner on linux")

// LoadLibrary always fails here, so Init fails with errUnsupported.
func LoadLibrary(string) error { return errUnsupported }

// LibraryLocation says where the library comes from.
func LibraryLocation() string { return "" }

func libVersion() string { return "" }

func libraryLoaded() bool { return false }

// The remaining functions are never reached: every caller loads the library first (or,
// for the status answers, checks libraryLoaded).

func statusHTTP(Status) int             { return 0 }
func statusCode(Status) string          { return "" }
func requestMaxBytes() int              { return 0 }
func engineShutdown(engineHandle)       {}
func requestKey([]byte) (string, error) { return "", errUnsupported }

func engineNew([]byte) (engineHandle, error)           { return nil, errUnsupported }
func engineFree(engineHandle)                          {}
func cancelNew() cancelHandle                          { return nil }
func cancelTrigger(cancelHandle)                       {}
func cancelFree(cancelHandle)                          {}
func artifactFree(artifactHandle)                      {}
func artifactFd(artifactHandle) int32                  { return -1 }
func artifactPath(artifactHandle) string               { return "" }
func artifactSize(artifactHandle) uint64               { return 0 }
func artifactKey(artifactHandle) string                { return "" }
func artifactSource(artifactHandle) uint32             { return 0 }
func artifactSHA256(artifactHandle) string             { return "" }
func engineHealthJSON(engineHandle) (string, error)    { return "", errUnsupported }
func statsJSON(engineHandle) (string, error)           { return "", errUnsupported }
func engineDrain(engineHandle, uint64) (uint64, error) { return 0, errUnsupported }
func logSetLevel(string) error                         { return errUnsupported }
func logNext(uint32) (string, Status)                  { return "", StatusNotFound }
func logWake()                                         {}
func resolve(engineHandle, []byte, cancelHandle) (artifactHandle, error) {
	return nil, errUnsupported
}

func resolveOrPending(engineHandle, []byte, string, cancelHandle) (artifactHandle, *Pending, error) {
	return nil, nil, errUnsupported
}
