package fakevelox

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
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

// connectStatus is the HTTP status Connect gives each code.
var connectStatus = map[string]int{
	"canceled":            499,
	"unknown":             500,
	"invalid_argument":    400,
	"deadline_exceeded":   504,
	"not_found":           404,
	"already_exists":      409,
	"permission_denied":   403,
	"resource_exhausted":  429,
	"failed_precondition": 400,
	"aborted":             409,
	"out_of_range":        400,
	"unimplemented":       501,
	"internal":            500,
	"unavailable":         503,
	"data_loss":           500,
	"unauthenticated":     401,
}

func (s *Server) handleBuild(w http.ResponseWriter, r *http.Request) {
	call := Call{Start: time.Now()}
	s.mu.Lock()
	s.seq++
	call.Seq = s.seq
	s.stats.Calls++
	s.stats.InFlight++
	s.stats.MaxInFlight = max(s.stats.MaxInFlight, s.stats.InFlight)
	mode := s.takeModeLocked()
	size := s.size
	s.notifyLocked()
	s.mu.Unlock()

	defer func() {
		call.End = time.Now()
		s.mu.Lock()
		s.stats.InFlight--
		s.stats.record(&call)
		s.calls = append(s.calls, call)
		s.notifyLocked()
		s.mu.Unlock()
	}()

	if mode.Kind == Down {
		// A request on a connection opened before the listener closed: drop it.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		call.Cancelled = r.Context().Err() != nil
		return
	}
	call.Body = body
	if v := r.Header.Get("Connect-Timeout-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || len(v) > 10 {
			s.answerError(w, &call, "invalid_argument", fmt.Sprintf("protocol error: invalid timeout %q", v))
			return
		}
		call.TimeoutMs = ms
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		call.Status = http.StatusMethodNotAllowed
		w.WriteHeader(call.Status)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		w.Header().Set("Accept-Post", "application/json, application/proto")
		call.Status = http.StatusUnsupportedMediaType
		w.WriteHeader(call.Status)
		return
	}
	// connect-go servers (Velox's) do not require the header by default; a value other
	// than "1" is refused.
	if v := r.Header.Get("Connect-Protocol-Version"); v != "" && v != "1" {
		s.answerError(w, &call, "invalid_argument", fmt.Sprintf("connect-protocol-version must be \"1\": got %q", v))
		return
	}

	req, err := parseBuildRequest(body)
	if err != nil {
		s.answerError(w, &call, "invalid_argument", err.Error())
		return
	}
	call.RequestID = req.RequestID
	if err := req.validate(); err != nil {
		s.answerError(w, &call, "invalid_argument", err.Error())
		return
	}
	call.Key = req.Key()

	// Velox refuses an identical request while one is being handled.
	identity := call.Key + "|" + req.RequestID
	s.mu.Lock()
	duplicate := s.inFlight[identity]
	if !duplicate {
		s.inFlight[identity] = true
		s.stats.Building++
		s.notifyLocked()
	}
	s.mu.Unlock()
	if duplicate {
		s.answerError(w, &call, "already_exists", "build is already in progress")
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.inFlight, identity)
		s.stats.Building--
		s.mu.Unlock()
	}()

	if mode.Kind == Hang {
		<-r.Context().Done()
		call.Cancelled = true
		return
	}
	if mode.Delay > 0 {
		t := time.NewTimer(mode.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			call.Cancelled = true
			return
		}
	}
	if r.Context().Err() != nil {
		call.Cancelled = true
		return
	}

	switch mode.Kind {
	case Fail:
		status := mode.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		if mode.Code == "" {
			call.Status = status
			w.WriteHeader(status)
			return
		}
		s.answerErrorStatus(w, &call, status, mode.Code, messageOr(mode.Message, "fakevelox: injected failure"))
		return
	case Conflict:
		s.answerError(w, &call, "already_exists", messageOr(mode.Message, "build is already in progress"))
		return
	case Internal:
		s.answerError(w, &call, "internal", messageOr(mode.Message, "building plugins: fakevelox: injected compile error"))
		return
	}

	path := mode.Path
	if path == "" {
		path, err = s.writeBinary(call.Seq, call.Key, req.platform(), size)
		if err != nil {
			s.answerError(w, &call, "internal", err.Error())
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

// takeModeLocked returns the mode for this call and counts it down.
func (s *Server) takeModeLocked() Mode {
	m := s.mode
	if s.mode.Count > 0 && s.mode.Kind != Down {
		s.mode.Count--
		if s.mode.Count == 0 {
			s.mode = Mode{Delay: s.mode.Delay}
		}
	}
	return m
}

// writeBinary writes the build's file in its own directory, as Velox does per build.
func (s *Server) writeBinary(seq int, key string, p Platform, size int) (string, error) {
	dir := filepath.Join(s.OutputDir, fmt.Sprintf("build-%06d", seq))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := "rr"
	if p.OS == "windows" {
		name = "rr.exe"
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, Content(key, size), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

func (s *Server) answerError(w http.ResponseWriter, call *Call, code, message string) {
	status, ok := connectStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	s.answerErrorStatus(w, call, status, code, message)
}

func (s *Server) answerErrorStatus(w http.ResponseWriter, call *Call, status int, code, message string) {
	call.Status, call.Code = status, code
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(connectError{Code: code, Message: message})
}

func messageOr(m, def string) string {
	if m != "" {
		return m
	}
	return def
}
