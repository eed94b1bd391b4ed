//go:build (!cgo || !velox_cgo) && (linux || darwin)

package velox

// The purego backend, the default: it loads libvelox_middleware.so at run time, so the
// plugin builds from a module cache with nothing else of this repository, whether
// CGO_ENABLED is 0 or 1 (Velox passes the host's setting through). Only pointers and
// integers cross the boundary; C strings come back either as Go copies (purego's
// `string` return, for strings the library owns) or through cString below.

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

type (
	engineHandle   = unsafe.Pointer
	cancelHandle   = unsafe.Pointer
	artifactHandle = unsafe.Pointer
)

// Backend names the way the library is bound, for logs.
const Backend = "purego"

var (
	vxmVersion          func() string
	vxmErrorStatus      func(e unsafe.Pointer) uint32
	vxmErrorMessage     func(e unsafe.Pointer) string
	vxmErrorCode        func(e unsafe.Pointer) string
	vxmErrorHTTPStatus  func(e unsafe.Pointer) uint16
	vxmErrorRetryAfter  func(e unsafe.Pointer) uint32
	vxmErrorFree        func(e unsafe.Pointer)
	vxmEngineNew        func(cfg *byte, n uintptr, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmEngineShutdown   func(h unsafe.Pointer)
	vxmEngineFree       func(h unsafe.Pointer)
	vxmStatusHTTP       func(s uint32) uint16
	vxmStatusCode       func(s uint32) string
	vxmRequestMaxBytes  func() uintptr
	vxmRequestKey       func(req *byte, n uintptr, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmCancelNew        func() unsafe.Pointer
	vxmCancelTrigger    func(c unsafe.Pointer)
	vxmCancelFree       func(c unsafe.Pointer)
	vxmResolve          func(h unsafe.Pointer, req *byte, n uintptr, c unsafe.Pointer, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmArtifactFd       func(a unsafe.Pointer) int32
	vxmArtifactPath     func(a unsafe.Pointer) string
	vxmArtifactSize     func(a unsafe.Pointer) uint64
	vxmArtifactKey      func(a unsafe.Pointer) string
	vxmArtifactSHA256   func(a unsafe.Pointer) string
	vxmArtifactSource   func(a unsafe.Pointer) uint32
	vxmArtifactFree     func(a unsafe.Pointer)
	vxmStatsJSON        func(h unsafe.Pointer, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmEngineDrain      func(h unsafe.Pointer, timeoutMs uint64, out *uint64, outErr *unsafe.Pointer) uint32
	vxmStringFree       func(s unsafe.Pointer)
	vxmLogSetLevel      func(level string, outErr *unsafe.Pointer) uint32
	vxmLogNext          func(timeoutMs uint32, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmLogWake          func()
	vxmResolveOrPending func(h unsafe.Pointer, req *byte, n uintptr, prefer *byte, pn uintptr, c unsafe.Pointer, out *unsafe.Pointer, outPending *unsafe.Pointer, outErr *unsafe.Pointer) uint32
	vxmPendingHTTP      func(p unsafe.Pointer) uint16
	vxmPendingRetry     func(p unsafe.Pointer) uint32
	vxmPendingJSON      func(p unsafe.Pointer) string
	vxmPendingKey       func(p unsafe.Pointer) string
	vxmPendingApplied   func(p unsafe.Pointer) uint8
	vxmPendingFree      func(p unsafe.Pointer)
	libraryLoadedFrom   string
	libraryMu           sync.Mutex
	libraryHandle       uintptr
	librarySymbolsTable = []struct {
		fn   any
		name string
	}{
		{&vxmErrorStatus, "vxm_error_status"},
		{&vxmErrorMessage, "vxm_error_message"},
		{&vxmErrorCode, "vxm_error_code"},
		{&vxmErrorHTTPStatus, "vxm_error_http_status"},
		{&vxmErrorRetryAfter, "vxm_error_retry_after"},
		{&vxmErrorFree, "vxm_error_free"},
		{&vxmEngineNew, "vxm_engine_new"},
		{&vxmEngineShutdown, "vxm_engine_shutdown"},
		{&vxmEngineFree, "vxm_engine_free"},
		{&vxmStatusHTTP, "vxm_status_http"},
		{&vxmStatusCode, "vxm_status_code"},
		{&vxmRequestMaxBytes, "vxm_request_max_bytes"},
		{&vxmRequestKey, "vxm_request_key"},
		{&vxmCancelNew, "vxm_cancel_new"},
		{&vxmCancelTrigger, "vxm_cancel_trigger"},
		{&vxmCancelFree, "vxm_cancel_free"},
		{&vxmResolve, "vxm_resolve"},
		{&vxmArtifactFd, "vxm_artifact_fd"},
		{&vxmArtifactPath, "vxm_artifact_path"},
		{&vxmArtifactSize, "vxm_artifact_size"},
		{&vxmArtifactKey, "vxm_artifact_key"},
		{&vxmArtifactSHA256, "vxm_artifact_sha256"},
		{&vxmArtifactSource, "vxm_artifact_source"},
		{&vxmArtifactFree, "vxm_artifact_free"},
		{&vxmStatsJSON, "vxm_stats_json"},
		{&vxmEngineDrain, "vxm_engine_drain"},
		{&vxmStringFree, "vxm_string_free"},
		{&vxmLogSetLevel, "vxm_log_set_level"},
		{&vxmLogNext, "vxm_log_next"},
		{&vxmLogWake, "vxm_log_wake"},
		{&vxmResolveOrPending, "vxm_resolve_or_pending"},
		{&vxmPendingHTTP, "vxm_pending_http_status"},
		{&vxmPendingRetry, "vxm_pending_retry_after"},
		{&vxmPendingJSON, "vxm_pending_json"},
		{&vxmPendingKey, "vxm_pending_key"},
		{&vxmPendingApplied, "vxm_pending_preference_applied"},
		{&vxmPendingFree, "vxm_pending_free"},
	}
)

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
// compatible version. It binds the package's function variables to it.
func openLibrary(candidates []libraryCandidate) (uintptr, string, error) {
	failed := &loadError{}
	for _, c := range candidates {
		h, err := purego.Dlopen(c.path, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			failed.add(c, err)
			continue
		}
		if err := bindLibrary(h); err != nil {
			_ = purego.Dlclose(h)
			failed.add(c, err)
			continue
		}
		return h, c.path, nil
	}
	return 0, "", failed
}

// bindLibrary checks the version first, so that an old library is refused for its
// version rather than for a missing symbol.
func bindLibrary(h uintptr) error {
	sym, err := purego.Dlsym(h, "vxm_version")
	if err != nil {
		return fmt.Errorf("not a velox_middleware library: %w", err)
	}
	var version func() string
	purego.RegisterFunc(&version, sym)
	if err := checkVersion(version()); err != nil {
		return err
	}
	syms := make([]uintptr, len(librarySymbolsTable))
	for i, s := range librarySymbolsTable {
		if syms[i], err = purego.Dlsym(h, s.name); err != nil {
			return fmt.Errorf("missing symbol %s: %w", s.name, err)
		}
	}
	for i, s := range librarySymbolsTable {
		purego.RegisterFunc(s.fn, syms[i])
	}
	vxmVersion = version
	return nil
}

func libVersion() string { return vxmVersion() }

// libraryLoaded says whether LoadLibrary has bound the library's functions.
func libraryLoaded() bool {
	libraryMu.Lock()
	defer libraryMu.Unlock()
	return libraryHandle != 0
}

func statusHTTP(s Status) int    { return int(vxmStatusHTTP(uint32(s))) }
func statusCode(s Status) string { return vxmStatusCode(uint32(s)) }
func requestMaxBytes() int       { return int(vxmRequestMaxBytes()) }

// bytesArg passes a Go byte slice as (ptr, len). The library refuses NULL even for an
// empty string, so an empty slice points at a private byte.
func bytesArg(b []byte) (*byte, uintptr) {
	if len(b) == 0 {
		return new(byte), 0
	}
	return unsafe.SliceData(b), uintptr(len(b))
}

// cString copies a NUL-terminated C string.
func cString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// takeError converts and frees a library error.
func takeError(status uint32, e unsafe.Pointer) *Error {
	if e == nil {
		return libraryError(Status(status), "the library gave no details")
	}
	defer vxmErrorFree(e)
	return &Error{
		Status:     Status(vxmErrorStatus(e)),
		HTTPStatus: int(vxmErrorHTTPStatus(e)),
		Code:       vxmErrorCode(e),
		Message:    vxmErrorMessage(e),

		RetryAfterSeconds: int(vxmErrorRetryAfter(e)),
	}
}

func engineNew(config []byte) (engineHandle, error) {
	p, n := bytesArg(config)
	var h, e unsafe.Pointer
	st := vxmEngineNew(p, n, &h, &e)
	if Status(st) != StatusOK {
		return nil, takeError(st, e)
	}
	return h, nil
}

func engineShutdown(h engineHandle)          { vxmEngineShutdown(h) }
func engineFree(h engineHandle)              { vxmEngineFree(h) }
func cancelNew() cancelHandle                { return vxmCancelNew() }
func cancelTrigger(c cancelHandle)           { vxmCancelTrigger(c) }
func cancelFree(c cancelHandle)              { vxmCancelFree(c) }
func artifactFree(a artifactHandle)          { vxmArtifactFree(a) }
func artifactFd(a artifactHandle) int32      { return vxmArtifactFd(a) }
func artifactPath(a artifactHandle) string   { return vxmArtifactPath(a) }
func artifactSize(a artifactHandle) uint64   { return vxmArtifactSize(a) }
func artifactKey(a artifactHandle) string    { return vxmArtifactKey(a) }
func artifactSHA256(a artifactHandle) string { return vxmArtifactSHA256(a) }
func artifactSource(a artifactHandle) uint32 { return vxmArtifactSource(a) }

func resolve(h engineHandle, request []byte, c cancelHandle) (artifactHandle, error) {
	p, n := bytesArg(request)
	var a, e unsafe.Pointer
	st := vxmResolve(h, p, n, c, &a, &e)
	if Status(st) != StatusOK {
		return nil, takeError(st, e)
	}
	return a, nil
}

// resolveOrPending returns a pending answer already converted and freed.
func resolveOrPending(h engineHandle, request []byte, prefer string, c cancelHandle) (artifactHandle, *Pending, error) {
	p, n := bytesArg(request)
	pp, pn := bytesArg([]byte(prefer))
	var a, pend, e unsafe.Pointer
	st := vxmResolveOrPending(h, p, n, pp, pn, c, &a, &pend, &e)
	if Status(st) != StatusOK {
		return nil, nil, takeError(st, e)
	}
	if pend == nil {
		return a, nil, nil
	}
	defer vxmPendingFree(pend)
	return nil, &Pending{
		HTTPStatus:        int(vxmPendingHTTP(pend)),
		RetryAfterSeconds: int(vxmPendingRetry(pend)),
		Body:              []byte(vxmPendingJSON(pend)),
		Key:               vxmPendingKey(pend),
		PreferenceApplied: vxmPendingApplied(pend) != 0,
	}, nil
}

func requestKey(request []byte) (string, error) {
	p, n := bytesArg(request)
	var k, e unsafe.Pointer
	if st := vxmRequestKey(p, n, &k, &e); Status(st) != StatusOK {
		return "", takeError(st, e)
	}
	defer vxmStringFree(k)
	return cString(k), nil
}

func statsJSON(h engineHandle) (string, error) {
	var s, e unsafe.Pointer
	st := vxmStatsJSON(h, &s, &e)
	if Status(st) != StatusOK {
		return "", takeError(st, e)
	}
	defer vxmStringFree(s)
	return cString(s), nil
}

func engineDrain(h engineHandle, timeoutMs uint64) (uint64, error) {
	var left uint64
	var e unsafe.Pointer
	if st := vxmEngineDrain(h, timeoutMs, &left, &e); Status(st) != StatusOK {
		return left, takeError(st, e)
	}
	return left, nil
}

func logSetLevel(level string) error {
	var e unsafe.Pointer
	if st := vxmLogSetLevel(level, &e); Status(st) != StatusOK {
		return takeError(st, e)
	}
	return nil
}

// logNext returns the oldest library log record, waiting up to timeoutMs for one
// (StatusNotFound when none came or vxm_log_wake was called).
func logNext(timeoutMs uint32) (string, Status) {
	var s unsafe.Pointer
	if st := Status(vxmLogNext(timeoutMs, &s, nil)); st != StatusOK {
		return "", st
	}
	defer vxmStringFree(s)
	return cString(s), StatusOK
}

func logWake() { vxmLogWake() }
