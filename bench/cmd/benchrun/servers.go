package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// server is one HTTP server under test, running in its own process group.
type server struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	log    *os.File
	exited chan struct{} // closed when the process has been waited for
}

// watch waits for the process in the background, so that a server that dies at start-up
// is noticed at once and stop never waits twice.
func (s *server) watch() {
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
}

// kind says how a server is started and what URL serves a file of a given size.
type kind struct {
	name  string // column name in the report
	label string // one line for the report: what it is
	start func(d *driver) (*server, error)
	url   func(addr string, size int) string
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

var rrConfig = template.Must(template.New("rr").Parse(`version: "3"
server:
  command: "php {{.Worker}}"
  relay: pipes
logs:
  mode: production
  level: error
  output: {{.LogFile}}
http:
  address: {{.HTTPAddr}}
  middleware: ["{{.Middleware}}"]
  pool:
    num_workers: {{.Workers}}
    allocate_timeout: 30s
    destroy_timeout: 5s
{{- if .StaticDir}}
  static:
    dir: {{.StaticDir}}
    forbid: [".php"]
{{- end}}
{{- if .ServerURL}}
velox:
  server_url: {{.ServerURL}}
  build_timeout: 60s
  request_timeout: 30s
  allowed_build_dirs: ["{{.OutputDir}}"]
  retry:
    max_attempts: 2
    initial_delay: 100ms
    max_delay: 200ms
    backoff_multiplier: 2
  cache:
    enabled: true
    directory: {{.CacheDir}}
    max_entries: 100
    cleanup_interval: 1h
    eviction_policy: lru
{{- end}}
`))

type rrParams struct {
	Worker, LogFile, HTTPAddr, Middleware     string
	Workers                                   int
	StaticDir, ServerURL, OutputDir, CacheDir string
}

// startRR writes a .rr.yaml for p and starts binary with it.
func (d *driver) startRR(name, binary string, p rrParams) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p.HTTPAddr = addr
	p.Worker = d.worker
	p.Workers = d.workers
	dir := filepath.Join(d.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p.LogFile = filepath.Join(dir, "rr.log")
	cfgPath := filepath.Join(dir, ".rr.yaml")
	f, err := os.Create(cfgPath)
	if err != nil {
		return nil, err
	}
	if err := rrConfig.Execute(f, p); err != nil {
		_ = f.Close()
		return nil, err
	}
	_ = f.Close()
	return d.spawn(name, dir, addr, binary, "serve", "-c", cfgPath)
}

// spawn starts a process in dir, its output in dir/stdout.log, and waits until addr
// answers HTTP.
func (d *driver) spawn(name, dir, addr, binary string, args ...string) (*server, error) {
	logf, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "VELOX_MIDDLEWARE_LIB="+d.sharedLib)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	s := &server{name: name, cmd: cmd, addr: addr, log: logf}
	s.watch()
	if err := waitHTTP(addr, 30*time.Second, s.exited); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %w (see %s)", name, err, logf.Name())
	}
	return s, nil
}

// startServeContent starts the plain net/http server and reads its address.
func (d *driver) startServeContent() (*server, error) {
	dir := filepath.Join(d.work, "servecontent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(d.bin("servecontent"), "-dir", d.files)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, out) }()
	s := &server{name: "servecontent", cmd: cmd}
	s.watch()
	if err != nil {
		s.stop()
		return nil, err
	}
	s.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	if err := waitHTTP(s.addr, 10*time.Second, s.exited); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func waitHTTP(addr string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before answering on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no HTTP answer on %s within %s", addr, limit)
}

// stop sends SIGTERM to the process group and kills it if it lingers.
func (s *server) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	if s.log != nil {
		_ = s.log.Close()
	}
}
