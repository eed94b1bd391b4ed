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
#include <stdlib.h>
#include "velox_middleware.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

type (
	engineHandle   = *C.vxm_engine
	cancelHandle   = *C.vxm_cancel
	artifactHandle = *C.vxm_artifact
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

func libVersion() string { return C.GoString(C.vxm_version()) }

// libraryLoaded is always true: the library is linked in.
func libraryLoaded() bool { return true }

func statusHTTP(s Status) int { return int(C.vxm_status_http(C.uint32_t(s))) }

func statusCode(s Status) string { return C.GoString(C.vxm_status_code(C.uint32_t(s))) }

func requestMaxBytes() int { return int(C.vxm_request_max_bytes()) }

// bytesArg passes a Go byte slice as (ptr, len). The library refuses NULL even for an
// empty string, so an empty slice points at a private byte.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		var zero [1]byte
		return (*C.uint8_t)(unsafe.Pointer(&zero[0])), 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// takeError converts and frees a library error.
func takeError(status C.vxm_status, e *C.vxm_error) *Error {
	defer C.vxm_error_free(e)
	if e == nil {
		return libraryError(Status(status), "the library gave no details")
	}
	return &Error{
		Status:     Status(C.vxm_error_status(e)),
		HTTPStatus: int(C.vxm_error_http_status(e)),
		Code:       C.GoString(C.vxm_error_code(e)),
		Message:    C.GoString(C.vxm_error_message(e)),

		RetryAfterSeconds: int(C.vxm_error_retry_after(e)),
	}
}

func engineNew(config []byte) (engineHandle, error) {
	p, n := bytesArg(config)
	var h *C.vxm_engine
	var e *C.vxm_error
	st := C.vxm_engine_new(p, n, &h, &e)
	if st != C.VXM_STATUS_OK {
		return nil, takeError(st, e)
	}
	return h, nil
}

func engineShutdown(h engineHandle) { C.vxm_engine_shutdown(h) }
func engineFree(h engineHandle)     { C.vxm_engine_free(h) }

func requestKey(request []byte) (string, error) {
	p, n := bytesArg(request)
	var k *C.char
	var e *C.vxm_error
	if st := C.vxm_request_key(p, n, &k, &e); st != C.VXM_STATUS_OK {
		return "", takeError(st, e)
	}
	defer C.vxm_string_free(k)
	return C.GoString(k), nil
}

func cancelNew() cancelHandle       { return C.vxm_cancel_new() }
func cancelTrigger(c cancelHandle)  { C.vxm_cancel_trigger(c) }
func cancelFree(c cancelHandle)     { C.vxm_cancel_free(c) }
func artifactFree(a artifactHandle) { C.vxm_artifact_free(a) }
func artifactFd(a artifactHandle) int32 {
	return int32(C.vxm_artifact_fd(a))
}
func artifactPath(a artifactHandle) string   { return C.GoString(C.vxm_artifact_path(a)) }
func artifactSize(a artifactHandle) uint64   { return uint64(C.vxm_artifact_size(a)) }
func artifactKey(a artifactHandle) string    { return C.GoString(C.vxm_artifact_key(a)) }
func artifactSHA256(a artifactHandle) string { return C.GoString(C.vxm_artifact_sha256(a)) }
func artifactSource(a artifactHandle) uint32 { return uint32(C.vxm_artifact_source(a)) }

func resolve(h engineHandle, request []byte, c cancelHandle) (artifactHandle, error) {
	p, n := bytesArg(request)
	var a *C.vxm_artifact
	var e *C.vxm_error
	st := C.vxm_resolve(h, p, n, c, &a, &e)
	if st != C.VXM_STATUS_OK {
		return nil, takeError(st, e)
	}
	return a, nil
}

// resolveOrPending returns a pending answer already converted and freed.
func resolveOrPending(h engineHandle, request []byte, prefer string, c cancelHandle) (artifactHandle, *Pending, error) {
	p, n := bytesArg(request)
	pp, pn := bytesArg([]byte(prefer))
	var a *C.vxm_artifact
	var pend *C.vxm_pending
	var e *C.vxm_error
	st := C.vxm_resolve_or_pending(h, p, n, pp, pn, c, &a, &pend, &e)
	if st != C.VXM_STATUS_OK {
		return nil, nil, takeError(st, e)
	}
	if pend == nil {
		return a, nil, nil
	}
	defer C.vxm_pending_free(pend)
	return nil, &Pending{
		HTTPStatus:        int(C.vxm_pending_http_status(pend)),
		RetryAfterSeconds: int(C.vxm_pending_retry_after(pend)),
		Body:              []byte(C.GoString(C.vxm_pending_json(pend))),
		Key:               C.GoString(C.vxm_pending_key(pend)),
		PreferenceApplied: C.vxm_pending_preference_applied(pend) != 0,
	}, nil
}

func statsJSON(h engineHandle) (string, error) {
	var s *C.char
	var e *C.vxm_error
	st := C.vxm_stats_json(h, &s, &e)
	if st != C.VXM_STATUS_OK {
		return "", takeError(st, e)
	}
	defer C.vxm_string_free(s)
	return C.GoString(s), nil
}

func engineDrain(h engineHandle, timeoutMs uint64) (uint64, error) {
	var left C.uint64_t
	var e *C.vxm_error
	if st := C.vxm_engine_drain(h, C.uint64_t(timeoutMs), &left, &e); st != C.VXM_STATUS_OK {
		return uint64(left), takeError(st, e)
	}
	return uint64(left), nil
}

func logSetLevel(level string) error {
	cs := C.CString(level)
	defer C.free(unsafe.Pointer(cs))
	var e *C.vxm_error
	if st := C.vxm_log_set_level(cs, &e); st != C.VXM_STATUS_OK {
		return takeError(st, e)
	}
	return nil
}

// logNext returns the oldest library log record, waiting up to timeoutMs for one
// (StatusNotFound when none came or vxm_log_wake was called).
func logNext(timeoutMs uint32) (string, Status) {
	var s *C.char
	if st := Status(C.vxm_log_next(C.uint32_t(timeoutMs), &s, nil)); st != StatusOK {
		return "", st
	}
	defer C.vxm_string_free(s)
	return C.GoString(s), StatusOK
}

func logWake() { C.vxm_log_wake() }
