package velox

import "unsafe"

// The library's handles are opaque to Go and live outside its heap; both backends pass
// them as they are.
type (
	engineHandle   = unsafe.Pointer
	cancelHandle   = unsafe.Pointer
	artifactHandle = unsafe.Pointer
	pendingHandle  = unsafe.Pointer
	errorHandle    = unsafe.Pointer
)

// abi is the library's C ABI (include/velox_middleware.h) as the backends bind it: each
// backend fills `lib` with one entry per vxm_ function and nothing else, so that what the
// shim does around a call (errors, ownership, copies) is written once, in calls.go. The
// signatures use only pointers and integers because those are all that purego can pass
// and what cgo can convert to without wrappers of its own. A `char *` result is an
// unsafe.Pointer the caller copies; a `const char *` argument is a NUL-terminated Go
// buffer valid during the call only.
type abi struct {
	version func() unsafe.Pointer

	errorStatus     func(e errorHandle) uint32
	errorMessage    func(e errorHandle) unsafe.Pointer
	errorCode       func(e errorHandle) unsafe.Pointer
	errorHTTPStatus func(e errorHandle) uint16
	errorFree       func(e errorHandle)
	statusHTTP      func(s uint32) uint16
	statusCode      func(s uint32) unsafe.Pointer
	stringFree      func(s unsafe.Pointer)

	engineNew        func(cfg unsafe.Pointer, n uintptr, out *engineHandle, errOut *errorHandle) uint32
	engineShutdown   func(h engineHandle)
	engineFree       func(h engineHandle)
	engineDrain      func(h engineHandle, timeoutMs uint64, inFlight *uint64, errOut *errorHandle) uint32
	statsJSON        func(h engineHandle, out *unsafe.Pointer, errOut *errorHandle) uint32
	engineHealthJSON func(h engineHandle, out *unsafe.Pointer, errOut *errorHandle) uint32

	requestMaxBytes func() uintptr
	requestKey      func(req unsafe.Pointer, n uintptr, out *unsafe.Pointer, errOut *errorHandle) uint32

	cancelNew     func() cancelHandle
	cancelTrigger func(c cancelHandle)
	cancelFree    func(c cancelHandle)

	resolve          func(h engineHandle, req unsafe.Pointer, n uintptr, c cancelHandle, out *artifactHandle, errOut *errorHandle) uint32
	resolveOrPending func(h engineHandle, req unsafe.Pointer, n uintptr, prefer unsafe.Pointer, pn uintptr, c cancelHandle,
		out *artifactHandle, pendingOut *pendingHandle, errOut *errorHandle) uint32

	artifactFd     func(a artifactHandle) int32
	artifactPath   func(a artifactHandle) unsafe.Pointer
	artifactSize   func(a artifactHandle) uint64
	artifactKey    func(a artifactHandle) unsafe.Pointer
	artifactSHA256 func(a artifactHandle) unsafe.Pointer
	artifactSource func(a artifactHandle) uint32
	artifactFree   func(a artifactHandle)

	pendingHTTPStatus func(p pendingHandle) uint16
	pendingRetryAfter func(p pendingHandle) uint32
	pendingJSON       func(p pendingHandle) unsafe.Pointer
	pendingKey        func(p pendingHandle) unsafe.Pointer
	pendingApplied    func(p pendingHandle) uint8
	pendingFree       func(p pendingHandle)

	logSetLevel func(level unsafe.Pointer, errOut *errorHandle) uint32
	logNext     func(timeoutMs uint32, out *unsafe.Pointer, errOut *errorHandle) uint32
	logWake     func()
}
