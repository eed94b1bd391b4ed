package main

import (
	"fmt"
	"net"
	"os"
	"time"

	configPlugin "github.com/roadrunner-server/config/v5"
	"github.com/roadrunner-server/endure/v2"
)

// RoadRunner prints its banner right after the container's Serve returns, but plugins
// bind their listeners in goroutines and report failures (a busy http.address) on the
// error channel a moment later, so the banner can be followed by the error. Here the
// banner waits for:
//   - settle: no plugin reported an error for this long after Serve (a bind error is a
//     syscall in a goroutine started by Serve, it arrives well within it), and
//   - http.address (when configured) accepting TCP connections, for at most
//     listenWait; after that the banner comes with a warning.
const (
	settle     = time.Second
	listenWait = 30 * time.Second
	pollEvery  = 50 * time.Millisecond
)

// waitStarted returns a plugin's error, or sig true when a signal arrived first, or
// neither once serving has started.
func waitStarted(cfg *configPlugin.Plugin, errCh <-chan *endure.Result, signals <-chan os.Signal) (*endure.Result, bool) {
	// interrupted waits up to d for a plugin's error or a signal, as waitStarted returns
	// them, and says whether either came.
	interrupted := func(d time.Duration) (*endure.Result, bool, bool) {
		select {
		case e := <-errCh:
			return e, false, true
		case <-signals:
			return nil, true, true
		case <-time.After(d):
			return nil, false, false
		}
	}
	if e, sig, stop := interrupted(settle); stop {
		return e, sig
	}
	addr := httpAddress(cfg)
	if addr == "" {
		return nil, false
	}
	deadline := time.Now().Add(listenWait)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil, false
		}
		if time.Now().After(deadline) {
			fmt.Printf("[WARN] http.address %s does not accept connections after %s\n", addr, listenWait)
			return nil, false
		}
		if e, sig, stop := interrupted(pollEvery); stop {
			return e, sig
		}
	}
}

// httpAddress is http.address as the config plugin sees it (overrides and environment
// applied), or "" without an http section.
func httpAddress(cfg *configPlugin.Plugin) string {
	if !cfg.Has("http") {
		return ""
	}
	var h struct {
		Address string `mapstructure:"address"`
	}
	if err := cfg.UnmarshalKey("http", &h); err != nil {
		return ""
	}
	return h.Address
}
