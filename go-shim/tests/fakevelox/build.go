package fakevelox

import (
	"context"
	"net/http"
	"time"
)

// handleBuild is Velox's BuildService/Build: each step below either answers and ends the
// call or hands on to the next one.
func (s *Server) handleBuild(w http.ResponseWriter, r *http.Request) {
	call, mode, size := s.beginCall()
	defer s.endCall(call)

	if mode.Kind == Down {
		dropConnection(w)
		return
	}
	req, ok := decodeBuild(w, r, call, mode)
	if !ok {
		return
	}
	release, ok := s.admit(w, call, req)
	if !ok {
		return
	}
	defer release()

	if !waitForBuild(r.Context(), mode) {
		call.Cancelled = true
		return
	}
	if answerFault(w, call, mode) {
		return
	}
	s.answerBuilt(w, call, req, mode, size)
}

// beginCall counts the call in and takes the mode that applies to it.
func (s *Server) beginCall() (*Call, Mode, int) {
	call := &Call{Start: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	call.Seq = s.seq
	s.stats.Calls++
	s.stats.InFlight++
	s.stats.MaxInFlight = max(s.stats.MaxInFlight, s.stats.InFlight)
	mode := s.takeModeLocked()
	s.notifyLocked()
	return call, mode, s.size
}

// endCall records the finished call, whatever answer it got.
func (s *Server) endCall(call *Call) {
	call.End = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.InFlight--
	s.stats.record(call)
	s.calls = append(s.calls, *call)
	s.notifyLocked()
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

// dropConnection ends a request that arrived on a connection opened before the listener
// closed, the way a server that went away would: no answer at all.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// admit refuses a request identical to one still being handled, as Velox does; otherwise
// it marks the request as building until release is called.
func (s *Server) admit(w http.ResponseWriter, call *Call, req *BuildRequest) (release func(), ok bool) {
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
		answerError(w, call, "already_exists", "build is already in progress")
		return nil, false
	}
	return func() {
		s.mu.Lock()
		delete(s.inFlight, identity)
		s.stats.Building--
		s.mu.Unlock()
	}, true
}

// waitForBuild spends the mode's build time, or forever for Hang; false when the client
// went away first.
func waitForBuild(ctx context.Context, mode Mode) bool {
	if mode.Kind == Hang {
		<-ctx.Done()
		return false
	}
	if mode.Delay > 0 {
		t := time.NewTimer(mode.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}
