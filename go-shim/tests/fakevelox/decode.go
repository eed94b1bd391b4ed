package fakevelox

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// decodeBuild reads and checks a Build call the way connect-go and Velox's validation do,
// in their order; it answers the refusals itself and reports whether the call goes on.
func decodeBuild(w http.ResponseWriter, r *http.Request, call *Call, mode Mode) (*BuildRequest, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		call.Cancelled = r.Context().Err() != nil
		return nil, false
	}
	call.Body = body
	if !checkProtocol(w, r, call) {
		return nil, false
	}
	req, err := parseBuildRequest(body)
	if err != nil {
		answerError(w, call, "invalid_argument", err.Error())
		return nil, false
	}
	if mode.Kind == Released {
		req.dropUnreleasedFields()
	}
	call.RequestID = req.RequestID
	if err := req.validate(); err != nil {
		answerError(w, call, "invalid_argument", err.Error())
		return nil, false
	}
	call.Key = req.Key()
	return req, true
}

// checkProtocol applies the Connect unary rules: timeout header, method, content type
// and protocol version.
func checkProtocol(w http.ResponseWriter, r *http.Request, call *Call) bool {
	if v := r.Header.Get("Connect-Timeout-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || len(v) > 10 {
			answerError(w, call, "invalid_argument", fmt.Sprintf("protocol error: invalid timeout %q", v))
			return false
		}
		call.TimeoutMs = ms
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answerBare(w, call, http.StatusMethodNotAllowed)
		return false
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		w.Header().Set("Accept-Post", "application/json, application/proto")
		answerBare(w, call, http.StatusUnsupportedMediaType)
		return false
	}
	// connect-go servers (Velox's) do not require the header by default; a value other
	// than "1" is refused.
	if v := r.Header.Get("Connect-Protocol-Version"); v != "" && v != "1" {
		answerError(w, call, "invalid_argument", fmt.Sprintf("connect-protocol-version must be \"1\": got %q", v))
		return false
	}
	return true
}
