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

func libraryLoaded() bool { return false }

// lib stays empty: calls.go is only reached once LoadLibrary succeeded, or, for the
// status answers, once libraryLoaded says so.
var lib abi
