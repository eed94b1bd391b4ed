package velox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Status is the library's vxm_status. The values are fixed by the ABI.
type Status uint32

const (
	StatusOK                  Status = 0
	StatusNullArgument        Status = 1
	StatusInvalidConfig       Status = 2
	StatusInvalidRequest      Status = 3
	StatusNotFound            Status = 4
	StatusUpstreamRejected    Status = 5
	StatusBuildFailed         Status = 6
	StatusUpstreamUnavailable Status = 7
	StatusTimeout             Status = 8
	StatusCancelled           Status = 9
	StatusUnsafePath          Status = 10
	StatusIO                  Status = 11
	StatusShuttingDown        Status = 12
	StatusPanic               Status = 13
	// 14 is BUILD_MISMATCH (another change); values are never reused.
	StatusBusy Status = 15
)

// Error is a failed library call. HTTPStatus and Code are what the library says an
// HTTP host should answer, so that the mapping lives in one place (Rust).
type Error struct {
	Status     Status
	HTTPStatus int
	Code       string
	Message    string
	// RetryAfterSeconds is the library's Retry-After for this error (BUSY); 0 = none.
	RetryAfterSeconds int
}

func (e *Error) Error() string {
	if e.Code == "" {
		return "velox: " + e.Message
	}
	return "velox: " + e.Code + ": " + e.Message
}

func asError(err error, target **Error) bool {
	return errors.As(err, target)
}

// libraryError is an error the shim meets itself (a call refused before it reaches the
// library, a body it cannot read): its HTTP status and code are still the library's
// (vxm_status_http, vxm_status_code). Without a loaded library there is no answer to
// give; writeError then answers 500.
func libraryError(status Status, message string) *Error {
	e := &Error{Status: status, Message: message}
	if libraryLoaded() {
		e.HTTPStatus, e.Code = statusHTTP(status), statusCode(status)
	}
	return e
}

func errShuttingDown() *Error {
	return libraryError(StatusShuttingDown, "the velox engine is shutting down")
}

func errCancelled() *Error {
	return libraryError(StatusCancelled, "the call was cancelled")
}

func errBadBody(msg string) *Error {
	return libraryError(StatusInvalidRequest, msg)
}

// writeError answers an HTTP client with the error's status and a small JSON body.
func writeError(w http.ResponseWriter, e *Error) {
	status := e.HTTPStatus
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{e.Message, e.Code})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if e.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
