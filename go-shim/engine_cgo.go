//go:build cgo && velox_cgo

package velox

// The cgo backend, opt-in with `-tags velox_cgo` (`make rr`): it links the static
// library built by `make lib` (target/release, next to this module) and compiles against
// include/velox_middleware.h, so it only builds inside this repository (or with the
// CGO_* flags below). The default is purego, which a module cache alone can build. Both are found through
// search paths, so another build can be used without editing this file:
//
//	CGO_CFLAGS=-I/opt/velox/include CGO_LDFLAGS=-L/opt/velox/lib go build
//
// (go puts CGO_* flags before the #cgo ones, so those directories are searched first).
// `-l:` names the archive itself, so a libvelox_middleware.so beside it is not picked.

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo LDFLAGS: -L${SRCDIR}/../target/release -l:libvelox_middleware.a -ldl -lpthread -lm
#include "velox_middleware.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// Backend names the way the library is bound, for logs.
const Backend = "cgo"

var (
	versionOnce sync.Once
	versionErr  error
)

// LoadLibrary checks the linked library's version. The library is linked statically,
// so path is ignored.
func LoadLibrary(path string) error {
	_ = path
	versionOnce.Do(func() { versionErr = checkVersion(libVersion()) })
	return versionErr
}

// LibraryLocation says where the library comes from.
func LibraryLocation() string { return "statically linked" }

// libraryLoaded is always true: the library is linked in.
func libraryLoaded() bool { return true }

// The C types of the header, from the table's pointers. An out parameter points at a Go
// variable holding no Go pointer, which cgo allows; the library writes its own into it.
func engineC(h engineHandle) *C.vxm_engine                      { return (*C.vxm_engine)(h) }
func cancelC(c cancelHandle) *C.vxm_cancel                      { return (*C.vxm_cancel)(c) }
func artifactC(a artifactHandle) *C.vxm_artifact                { return (*C.vxm_artifact)(a) }
func pendingC(p pendingHandle) *C.vxm_pending                   { return (*C.vxm_pending)(p) }
func errorC(e errorHandle) *C.vxm_error                         { return (*C.vxm_error)(e) }
func errorOut(e *errorHandle) **C.vxm_error                     { return (**C.vxm_error)(unsafe.Pointer(e)) }
func stringOut(s *unsafe.Pointer) **C.char                      { return (**C.char)(unsafe.Pointer(s)) }
func bytesC(p unsafe.Pointer, n uintptr) (*C.uint8_t, C.size_t) { return (*C.uint8_t)(p), C.size_t(n) }
func cstr(s *C.char) unsafe.Pointer                             { return unsafe.Pointer(s) }

var lib = abi{
	version: func() unsafe.Pointer { return cstr(C.vxm_version()) },

	errorStatus:     func(e errorHandle) uint32 { return uint32(C.vxm_error_status(errorC(e))) },
	errorMessage:    func(e errorHandle) unsafe.Pointer { return cstr(C.vxm_error_message(errorC(e))) },
	errorCode:       func(e errorHandle) unsafe.Pointer { return cstr(C.vxm_error_code(errorC(e))) },
	errorHTTPStatus: func(e errorHandle) uint16 { return uint16(C.vxm_error_http_status(errorC(e))) },
	errorFree:       func(e errorHandle) { C.vxm_error_free(errorC(e)) },
	statusHTTP:      func(s uint32) uint16 { return uint16(C.vxm_status_http(C.uint32_t(s))) },
	statusCode:      func(s uint32) unsafe.Pointer { return cstr(C.vxm_status_code(C.uint32_t(s))) },
	stringFree:      func(s unsafe.Pointer) { C.vxm_string_free((*C.char)(s)) },

	engineNew: func(cfg unsafe.Pointer, n uintptr, out *engineHandle, errOut *errorHandle) uint32 {
		p, pn := bytesC(cfg, n)
		return uint32(C.vxm_engine_new(p, pn, (**C.vxm_engine)(unsafe.Pointer(out)), errorOut(errOut)))
	},
	engineShutdown: func(h engineHandle) { C.vxm_engine_shutdown(engineC(h)) },
	engineFree:     func(h engineHandle) { C.vxm_engine_free(engineC(h)) },
	engineDrain: func(h engineHandle, timeoutMs uint64, inFlight *uint64, errOut *errorHandle) uint32 {
		return uint32(C.vxm_engine_drain(engineC(h), C.uint64_t(timeoutMs), (*C.uint64_t)(inFlight), errorOut(errOut)))
	},
	statsJSON: func(h engineHandle, out *unsafe.Pointer, errOut *errorHandle) uint32 {
		return uint32(C.vxm_stats_json(engineC(h), stringOut(out), errorOut(errOut)))
	},
	engineHealthJSON: func(h engineHandle, out *unsafe.Pointer, errOut *errorHandle) uint32 {
		return uint32(C.vxm_engine_health_json(engineC(h), stringOut(out), errorOut(errOut)))
	},

	requestMaxBytes: func() uintptr { return uintptr(C.vxm_request_max_bytes()) },
	requestKey: func(req unsafe.Pointer, n uintptr, out *unsafe.Pointer, errOut *errorHandle) uint32 {
		p, pn := bytesC(req, n)
		return uint32(C.vxm_request_key(p, pn, stringOut(out), errorOut(errOut)))
	},

	cancelNew:     func() cancelHandle { return cancelHandle(C.vxm_cancel_new()) },
	cancelTrigger: func(c cancelHandle) { C.vxm_cancel_trigger(cancelC(c)) },
	cancelFree:    func(c cancelHandle) { C.vxm_cancel_free(cancelC(c)) },

	resolve: func(h engineHandle, req unsafe.Pointer, n uintptr, c cancelHandle, out *artifactHandle, errOut *errorHandle) uint32 {
		p, pn := bytesC(req, n)
		return uint32(C.vxm_resolve(engineC(h), p, pn, cancelC(c), (**C.vxm_artifact)(unsafe.Pointer(out)), errorOut(errOut)))
	},
	resolveOrPending: func(h engineHandle, req unsafe.Pointer, n uintptr, prefer unsafe.Pointer, pn uintptr, c cancelHandle,
		out *artifactHandle, pendingOut *pendingHandle, errOut *errorHandle) uint32 {
		rp, rn := bytesC(req, n)
		pp, ppn := bytesC(prefer, pn)
		return uint32(C.vxm_resolve_or_pending(engineC(h), rp, rn, pp, ppn, cancelC(c),
			(**C.vxm_artifact)(unsafe.Pointer(out)), (**C.vxm_pending)(unsafe.Pointer(pendingOut)), errorOut(errOut)))
	},

	artifactFd:     func(a artifactHandle) int32 { return int32(C.vxm_artifact_fd(artifactC(a))) },
	artifactPath:   func(a artifactHandle) unsafe.Pointer { return cstr(C.vxm_artifact_path(artifactC(a))) },
	artifactSize:   func(a artifactHandle) uint64 { return uint64(C.vxm_artifact_size(artifactC(a))) },
	artifactKey:    func(a artifactHandle) unsafe.Pointer { return cstr(C.vxm_artifact_key(artifactC(a))) },
	artifactSHA256: func(a artifactHandle) unsafe.Pointer { return cstr(C.vxm_artifact_sha256(artifactC(a))) },
	artifactSource: func(a artifactHandle) uint32 { return uint32(C.vxm_artifact_source(artifactC(a))) },
	artifactFree:   func(a artifactHandle) { C.vxm_artifact_free(artifactC(a)) },

	pendingHTTPStatus: func(p pendingHandle) uint16 { return uint16(C.vxm_pending_http_status(pendingC(p))) },
	pendingRetryAfter: func(p pendingHandle) uint32 { return uint32(C.vxm_pending_retry_after(pendingC(p))) },
	pendingJSON:       func(p pendingHandle) unsafe.Pointer { return cstr(C.vxm_pending_json(pendingC(p))) },
	pendingKey:        func(p pendingHandle) unsafe.Pointer { return cstr(C.vxm_pending_key(pendingC(p))) },
	pendingApplied:    func(p pendingHandle) uint8 { return uint8(C.vxm_pending_preference_applied(pendingC(p))) },
	pendingFree:       func(p pendingHandle) { C.vxm_pending_free(pendingC(p)) },

	logSetLevel: func(level unsafe.Pointer, errOut *errorHandle) uint32 {
		return uint32(C.vxm_log_set_level((*C.char)(level), errorOut(errOut)))
	},
	logNext: func(timeoutMs uint32, out *unsafe.Pointer, errOut *errorHandle) uint32 {
		return uint32(C.vxm_log_next(C.uint32_t(timeoutMs), stringOut(out), errorOut(errOut)))
	},
	logWake: func() { C.vxm_log_wake() },
}
