package e2e

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// faultProxy sits between RoadRunner and the fake Velox server at the TCP level, to
// inject what an HTTP server cannot: connections reset on accept, and answers reset in
// the middle of their body. Without faults it forwards bytes unchanged.
type faultProxy struct {
	ln     net.Listener
	target string
	URL    string

	mu    sync.Mutex
	fault proxyFault
	// left is how many more connections get the fault; negative = all of them.
	left  int
	conns map[net.Conn]struct{}

	resets atomic.Int64
}

type proxyFault int

const (
	proxyPass proxyFault = iota
	// proxyResetOnAccept resets each connection as soon as it is accepted.
	proxyResetOnAccept
	// proxyResetMidBody forwards the request, then the answer's headers and the first
	// bytes of its body, then resets the connection.
	proxyResetMidBody
)

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, URL: "http://" + ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.dropAll()
	})
	return p
}

// set switches the fault for the next `count` connections (negative: all), zeroes the
// reset counter and drops open connections, so that pooled keep-alive connections
// cannot dodge the fault.
func (p *faultProxy) set(f proxyFault, count int) {
	p.mu.Lock()
	p.fault, p.left = f, count
	p.mu.Unlock()
	p.resets.Store(0)
	p.dropAll()
}

func (p *faultProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *faultProxy) take() proxyFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == proxyPass || p.left == 0 {
		return proxyPass
	}
	if p.left > 0 {
		p.left--
	}
	return p.fault
}

func (p *faultProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST instead of FIN
	}
	_ = c.Close()
}

func (p *faultProxy) handle(client net.Conn) {
	fault := p.take()
	if fault == proxyResetOnAccept {
		p.resets.Add(1)
		reset(client)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	p.track(client, true)
	p.track(up, true)
	defer func() {
		p.track(client, false)
		p.track(up, false)
		_ = up.Close()
		_ = client.Close()
	}()
	go func() {
		_, _ = io.Copy(up, client)
		_ = up.Close()
	}()
	if fault == proxyPass {
		_, _ = io.Copy(client, up)
		return
	}
	// proxyResetMidBody: headers, then 8 bytes of the body, then RST.
	var seen []byte
	buf := make([]byte, 4096)
	for {
		n, err := up.Read(buf)
		seen = append(seen, buf[:n]...)
		if i := bytes.Index(seen, []byte("\r\n\r\n")); i >= 0 && len(seen) >= i+4+8 {
			_, _ = client.Write(seen[:i+4+8])
			p.resets.Add(1)
			reset(client)
			return
		}
		if err != nil {
			// The answer was shorter than headers + 8 bytes: cut it anyway.
			if len(seen) > 0 {
				_, _ = client.Write(seen[:len(seen)/2])
			}
			p.resets.Add(1)
			reset(client)
			return
		}
	}
}
