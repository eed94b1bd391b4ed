// Package fakevelox is a Velox-compatible build server for tests: the Connect endpoint
// `POST /api.service.v1.BuildService/Build` with Velox's validation rules and error
// bodies, deterministic binaries written to a temp directory (ELF executables whose Go
// build information carries the request, padded to a size), and modes that a test
// switches at run time (down, slow, 5xx, 409 storms, hang, a released Velox that drops
// the fields it does not know). Standard library only.
package fakevelox

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// BuildPath is the Connect procedure path of Velox's build call.
const BuildPath = "/api.service.v1.BuildService/Build"

// Options configure a server. The zero value is usable.
type Options struct {
	// OutputDir receives the built files; default: a new temp directory removed by Close.
	OutputDir string
	// Size of each built file in bytes; default 4096.
	Size int
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
}

// Server is a running fake Velox server.
type Server struct {
	// URL is the base URL to configure as velox.server_url.
	URL string
	// ControlURL serves /_control, /_stats, /_calls and /_reset and stays up while the
	// build endpoint is Down.
	ControlURL string
	// OutputDir is where built files are written (configure it in allowed_build_dirs).
	OutputDir string

	ownsDir  bool
	addr     string
	api      *http.Server
	control  *http.Server
	ctlLn    net.Listener
	serveErr chan error

	mu       sync.Mutex
	ln       net.Listener // nil while Down
	mode     Mode
	size     int
	seq      int
	inFlight map[string]bool
	calls    []Call
	stats    Stats
	changed  chan struct{} // closed and replaced on every state change
	closed   bool
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	s := &Server{
		OutputDir: opts.OutputDir,
		size:      opts.Size,
		inFlight:  map[string]bool{},
		changed:   make(chan struct{}),
		serveErr:  make(chan error, 4),
	}
	if s.size <= 0 {
		s.size = 4096
	}
	if s.OutputDir == "" {
		dir, err := os.MkdirTemp("", "fakevelox-out-")
		if err != nil {
			return nil, err
		}
		s.OutputDir, s.ownsDir = dir, true
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.ln, s.ctlLn, s.addr = ln, ctlLn, ln.Addr().String()
	s.URL = "http://" + s.addr
	s.ControlURL = "http://" + ctlLn.Addr().String()

	mux := http.NewServeMux()
	mux.HandleFunc(BuildPath, s.handleBuild)
	s.registerControl(mux)
	s.api = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctlMux := http.NewServeMux()
	s.registerControl(ctlMux)
	s.control = &http.Server{Handler: ctlMux, ReadHeaderTimeout: 10 * time.Second}

	go s.serve(s.api, ln)
	go s.serve(s.control, ctlLn)
	return s, nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		s.serveErr <- err
	}
}

// Close stops both listeners, ends hanging calls and removes the output directory when
// the server created it.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	_ = s.api.Close()
	_ = s.control.Close()
	if s.ownsDir {
		_ = os.RemoveAll(s.OutputDir)
	}
}

// SetMode switches the behaviour for the next calls. Switching to Down closes the
// listener; switching away from Down listens again on the same address.
func (s *Server) SetMode(m Mode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("fakevelox: server closed")
	}
	if m.Size > 0 {
		s.size = m.Size
	}
	wasDown := s.mode.Kind == Down
	s.mode = m
	switch {
	case m.Kind == Down && !wasDown:
		s.api.SetKeepAlivesEnabled(false) // closes idle connections
		if s.ln != nil {
			_ = s.ln.Close()
			s.ln = nil
		}
	case m.Kind != Down && wasDown:
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("fakevelox: listening again on %s: %w", s.addr, err)
		}
		s.ln = ln
		s.api.SetKeepAlivesEnabled(true)
		go s.serve(s.api, ln)
	}
	s.notifyLocked()
	return nil
}

// Mode returns the current behaviour.
func (s *Server) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// SetSize sets the size of the files that the next builds write.
func (s *Server) SetSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		s.size = n
	}
}

// Size is the size of the files that the next builds write.
func (s *Server) Size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Calls returns a copy of every finished call, in order of arrival.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Reset clears calls and counters and returns to Normal mode.
func (s *Server) Reset() error {
	if err := s.SetMode(Mode{}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.stats = Stats{InFlight: s.stats.InFlight, Building: s.stats.Building}
	s.notifyLocked()
	return nil
}

// WaitFor blocks until cond holds for the counters or the timeout passes, and reports
// whether it held.
func (s *Server) WaitFor(timeout time.Duration, cond func(Stats) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(s.stats), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
