package fakevelox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// connectError is the body of every Connect error answer.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// buildResponse is api.response.v1.BuildResponse in JSON.
type buildResponse struct {
	Path string `json:"path"`
	Logs string `json:"logs"`
}

// answerFault answers the failure the mode injects; false when the mode builds.
func answerFault(w http.ResponseWriter, call *Call, mode Mode) bool {
	switch mode.Kind {
	case Fail:
		status := mode.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		if mode.Code == "" {
			answerBare(w, call, status)
			return true
		}
		answerErrorStatus(w, call, status, mode.Code, messageOr(mode.Message, "fakevelox: injected failure"))
	case Conflict:
		answerError(w, call, "already_exists", messageOr(mode.Message, "build is already in progress"))
	case Internal:
		answerError(w, call, "internal", messageOr(mode.Message, "building plugins: fakevelox: injected compile error"))
	default:
		return false
	}
	return true
}

// answerBuilt produces the artifact (or the path the mode names) and answers 200.
func (s *Server) answerBuilt(w http.ResponseWriter, call *Call, req *BuildRequest, mode Mode, size int) {
	path := mode.Path
	if path == "" {
		var err error
		path, err = s.writeBinary(call.Seq, call.Key, req.build(), size)
		if err != nil {
			answerError(w, call, "internal", err.Error())
			return
		}
	}
	call.Path = path
	call.Status = http.StatusOK
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(buildResponse{
		Path: path,
		Logs: fmt.Sprintf("fakevelox: built %s (rr %s, %d plugins, %d bytes)", call.Key, req.RRVersion, len(req.Plugins), size),
	})
}

// writeBinary writes the build's file in its own directory, as Velox does per build.
func (s *Server) writeBinary(seq int, key string, b Build, size int) (string, error) {
	dir := filepath.Join(s.OutputDir, fmt.Sprintf("build-%06d", seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := "rr"
	if b.TargetPlatform.OS == "windows" {
		name = "rr.exe"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.content(key, size), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// answerError answers a Connect error with the status the protocol gives its code.
func answerError(w http.ResponseWriter, call *Call, code, message string) {
	answerErrorStatus(w, call, connectCodes.status(code), code, message)
}

func answerErrorStatus(w http.ResponseWriter, call *Call, status int, code, message string) {
	call.Status, call.Code = status, code
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(connectError{Code: code, Message: message})
}

// answerBare answers a status without a body, what a proxy or the HTTP layer says.
func answerBare(w http.ResponseWriter, call *Call, status int) {
	call.Status = status
	w.WriteHeader(status)
}

func messageOr(m, def string) string {
	if m != "" {
		return m
	}
	return def
}
