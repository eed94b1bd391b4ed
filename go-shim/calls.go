package velox

// The Go side of every library call, for both backends: the backend's table (abi.go)
// only moves pointers and integers, so copying strings out before the library frees
// them, freeing what the caller owns and turning a vxm_error into an *Error happen here.
// Go memory handed to the library (request bytes, the log level) is kept alive with
// runtime.KeepAlive until the call returns, and the library keeps no pointer to it.

import (
	"runtime"
	"unsafe"
)

// bytesArg passes a Go byte slice as (ptr, len). The library refuses NULL even for an
// empty string, so an empty slice points at a private byte.
func bytesArg(b []byte) (unsafe.Pointer, uintptr) {
	if len(b) == 0 {
		return unsafe.Pointer(new(byte)), 0
	}
	return unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b))
}

// cString copies a NUL-terminated C string, so the result outlives the library's copy.
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

// takeString copies a string the caller owns and frees the library's.
func takeString(p unsafe.Pointer) string {
	defer lib.stringFree(p)
	return cString(p)
}

// takeError converts and frees a library error.
func takeError(status uint32, e errorHandle) *Error {
	if e == nil {
		return libraryError(Status(status), "the library gave no details")
	}
	defer lib.errorFree(e)
	return &Error{
		Status:     Status(lib.errorStatus(e)),
		HTTPStatus: int(lib.errorHTTPStatus(e)),
		Code:       cString(lib.errorCode(e)),
		Message:    cString(lib.errorMessage(e)),
	}
}

func libVersion() string         { return cString(lib.version()) }
func statusHTTP(s Status) int    { return int(lib.statusHTTP(uint32(s))) }
func statusCode(s Status) string { return cString(lib.statusCode(uint32(s))) }
func requestMaxBytes() int       { return int(lib.requestMaxBytes()) }

func engineNew(config []byte) (engineHandle, error) {
	p, n := bytesArg(config)
	var h engineHandle
	var e errorHandle
	st := lib.engineNew(p, n, &h, &e)
	runtime.KeepAlive(config)
	if Status(st) != StatusOK {
		return nil, takeError(st, e)
	}
	return h, nil
}

func engineShutdown(h engineHandle) { lib.engineShutdown(h) }
func engineFree(h engineHandle)     { lib.engineFree(h) }

func engineDrain(h engineHandle, timeoutMs uint64) (uint64, error) {
	var left uint64
	var e errorHandle
	if st := lib.engineDrain(h, timeoutMs, &left, &e); Status(st) != StatusOK {
		return left, takeError(st, e)
	}
	return left, nil
}

func statsJSON(h engineHandle) (string, error) { return engineReport(lib.statsJSON, h) }

func engineHealthJSON(h engineHandle) (string, error) { return engineReport(lib.engineHealthJSON, h) }

// engineReport runs one of the library's JSON reports on an engine.
func engineReport(report func(engineHandle, *unsafe.Pointer, *errorHandle) uint32, h engineHandle) (string, error) {
	var s unsafe.Pointer
	var e errorHandle
	if st := report(h, &s, &e); Status(st) != StatusOK {
		return "", takeError(st, e)
	}
	return takeString(s), nil
}

func requestKey(request []byte) (string, error) {
	p, n := bytesArg(request)
	var k unsafe.Pointer
	var e errorHandle
	st := lib.requestKey(p, n, &k, &e)
	runtime.KeepAlive(request)
	if Status(st) != StatusOK {
		return "", takeError(st, e)
	}
	return takeString(k), nil
}

func cancelNew() cancelHandle       { return lib.cancelNew() }
func cancelTrigger(c cancelHandle)  { lib.cancelTrigger(c) }
func cancelFree(c cancelHandle)     { lib.cancelFree(c) }
func artifactFree(a artifactHandle) { lib.artifactFree(a) }

func artifactFd(a artifactHandle) int32      { return lib.artifactFd(a) }
func artifactPath(a artifactHandle) string   { return cString(lib.artifactPath(a)) }
func artifactSize(a artifactHandle) uint64   { return lib.artifactSize(a) }
func artifactKey(a artifactHandle) string    { return cString(lib.artifactKey(a)) }
func artifactSHA256(a artifactHandle) string { return cString(lib.artifactSHA256(a)) }
func artifactSource(a artifactHandle) uint32 { return lib.artifactSource(a) }

func resolve(h engineHandle, request []byte, c cancelHandle) (artifactHandle, error) {
	p, n := bytesArg(request)
	var a artifactHandle
	var e errorHandle
	st := lib.resolve(h, p, n, c, &a, &e)
	runtime.KeepAlive(request)
	if Status(st) != StatusOK {
		return nil, takeError(st, e)
	}
	return a, nil
}

// resolveOrPending returns a pending answer already converted and freed.
func resolveOrPending(h engineHandle, request []byte, prefer string, c cancelHandle) (artifactHandle, *Pending, error) {
	p, n := bytesArg(request)
	preferBytes := []byte(prefer)
	pp, pn := bytesArg(preferBytes)
	var a artifactHandle
	var pend pendingHandle
	var e errorHandle
	st := lib.resolveOrPending(h, p, n, pp, pn, c, &a, &pend, &e)
	runtime.KeepAlive(request)
	runtime.KeepAlive(preferBytes)
	if Status(st) != StatusOK {
		return nil, nil, takeError(st, e)
	}
	if pend == nil {
		return a, nil, nil
	}
	defer lib.pendingFree(pend)
	return nil, &Pending{
		HTTPStatus:        int(lib.pendingHTTPStatus(pend)),
		RetryAfterSeconds: int(lib.pendingRetryAfter(pend)),
		Body:              []byte(cString(lib.pendingJSON(pend))),
		Key:               cString(lib.pendingKey(pend)),
		PreferenceApplied: lib.pendingApplied(pend) != 0,
	}, nil
}

func logSetLevel(level string) error {
	cs := append([]byte(level), 0)
	var e errorHandle
	st := lib.logSetLevel(unsafe.Pointer(&cs[0]), &e)
	runtime.KeepAlive(cs)
	if Status(st) != StatusOK {
		return takeError(st, e)
	}
	return nil
}

// logNext returns the oldest library log record, waiting up to timeoutMs for one
// (StatusNotFound when none came or vxm_log_wake was called).
func logNext(timeoutMs uint32) (string, Status) {
	var s unsafe.Pointer
	if st := Status(lib.logNext(timeoutMs, &s, nil)); st != StatusOK {
		return "", st
	}
	return takeString(s), StatusOK
}

func logWake() { lib.logWake() }
