//go:build (!cgo || !velox_cgo) && (linux || darwin)

package velox

// The purego backend, the default: it loads libvelox_middleware.so at run time, so the
// plugin builds from a module cache with nothing else of this repository, whether
// CGO_ENABLED is 0 or 1 (Velox passes the host's setting through). It binds the table
// of abi.go by symbol name and does nothing else: strings stay C pointers here (not
// purego's `string`), so that calls.go copies and frees them the same way for cgo.

import (
	"fmt"
	"sync"

	"github.com/ebitengine/purego"
)

// Backend names the way the library is bound, for logs.
const Backend = "purego"

var (
	// lib is bound once, under libraryMu, before libraryHandle is set; it is read
	// without the lock afterwards, by callers that loaded the library first.
	lib               abi
	libraryLoadedFrom string
	libraryMu         sync.Mutex
	libraryHandle     uintptr
)

// symbol is one entry of the table: where purego binds it, and its name.
type symbol struct {
	fn   any
	name string
}

// symbols is the table's every entry but version, which bindLibrary binds on its own.
func (t *abi) symbols() []symbol {
	return []symbol{
		{&t.errorStatus, "vxm_error_status"},
		{&t.errorMessage, "vxm_error_message"},
		{&t.errorCode, "vxm_error_code"},
		{&t.errorHTTPStatus, "vxm_error_http_status"},
		{&t.errorFree, "vxm_error_free"},
		{&t.statusHTTP, "vxm_status_http"},
		{&t.statusCode, "vxm_status_code"},
		{&t.stringFree, "vxm_string_free"},
		{&t.engineNew, "vxm_engine_new"},
		{&t.engineShutdown, "vxm_engine_shutdown"},
		{&t.engineFree, "vxm_engine_free"},
		{&t.engineDrain, "vxm_engine_drain"},
		{&t.statsJSON, "vxm_stats_json"},
		{&t.engineHealthJSON, "vxm_engine_health_json"},
		{&t.requestMaxBytes, "vxm_request_max_bytes"},
		{&t.requestKey, "vxm_request_key"},
		{&t.cancelNew, "vxm_cancel_new"},
		{&t.cancelTrigger, "vxm_cancel_trigger"},
		{&t.cancelFree, "vxm_cancel_free"},
		{&t.resolve, "vxm_resolve"},
		{&t.resolveOrPending, "vxm_resolve_or_pending"},
		{&t.artifactFd, "vxm_artifact_fd"},
		{&t.artifactPath, "vxm_artifact_path"},
		{&t.artifactSize, "vxm_artifact_size"},
		{&t.artifactKey, "vxm_artifact_key"},
		{&t.artifactSHA256, "vxm_artifact_sha256"},
		{&t.artifactSource, "vxm_artifact_source"},
		{&t.artifactFree, "vxm_artifact_free"},
		{&t.pendingHTTPStatus, "vxm_pending_http_status"},
		{&t.pendingRetryAfter, "vxm_pending_retry_after"},
		{&t.pendingJSON, "vxm_pending_json"},
		{&t.pendingKey, "vxm_pending_key"},
		{&t.pendingApplied, "vxm_pending_preference_applied"},
		{&t.pendingFree, "vxm_pending_free"},
		{&t.logSetLevel, "vxm_log_set_level"},
		{&t.logNext, "vxm_log_next"},
		{&t.logWake, "vxm_log_wake"},
	}
}

// LoadLibrary loads the shared library once per process, trying path (the plugin's
// `library_path`), then $VELOX_MIDDLEWARE_LIB, then the executable's directory, then
// the system search path. Once a library is loaded, later calls return nil.
func LoadLibrary(path string) error {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	if libraryHandle != 0 {
		return nil
	}
	h, where, err := openLibrary(libraryCandidates(path))
	if err != nil {
		return err
	}
	libraryHandle, libraryLoadedFrom = h, where
	return nil
}

// LibraryLocation says which file was loaded ("" before LoadLibrary succeeded).
func LibraryLocation() string {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	return libraryLoadedFrom
}

// openLibrary returns the first candidate that loads, exports every symbol and has a
// compatible version, and binds lib to it. A candidate that fails leaves lib alone.
func openLibrary(candidates []libraryCandidate) (uintptr, string, error) {
	failed := &loadError{}
	for _, c := range candidates {
		h, err := purego.Dlopen(c.path, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			failed.add(c, err)
			continue
		}
		t, err := bindLibrary(h)
		if err != nil {
			_ = purego.Dlclose(h)
			failed.add(c, err)
			continue
		}
		lib = t
		return h, c.path, nil
	}
	return 0, "", failed
}

// bindLibrary checks the version first, so that an old library is refused for its
// version rather than for a missing symbol. Every symbol is looked up before any is
// registered: RegisterLibFunc would panic on a missing one instead of naming it.
func bindLibrary(h uintptr) (abi, error) {
	var t abi
	sym, err := purego.Dlsym(h, "vxm_version")
	if err != nil {
		return t, fmt.Errorf("not a velox_middleware library: %w", err)
	}
	purego.RegisterFunc(&t.version, sym)
	if err := checkVersion(cString(t.version())); err != nil {
		return t, err
	}
	table := t.symbols()
	syms := make([]uintptr, len(table))
	for i, s := range table {
		if syms[i], err = purego.Dlsym(h, s.name); err != nil {
			return t, fmt.Errorf("missing symbol %s: %w", s.name, err)
		}
	}
	for i, s := range table {
		purego.RegisterFunc(s.fn, syms[i])
	}
	return t, nil
}

// libraryLoaded says whether LoadLibrary has bound the library's functions.
func libraryLoaded() bool {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	return libraryHandle != 0
}
