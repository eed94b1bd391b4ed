package velox

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

func newTestEngine(t *testing.T) (*Engine, *fakevelox.Server) {
	t.Helper()
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fv.Close)
	cfg, err := json.Marshal(engineSection(t, fv))
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(e.Close)
	return e, fv
}

func TestResolveWithAnEndedContextIsCancelledWithoutACall(t *testing.T) {
	e, fv := newTestEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Resolve(ctx, validRequest().json())
	var vErr *Error
	if !asError(err, &vErr) || vErr.Status != StatusCancelled {
		t.Fatalf("Resolve on an ended context: %v", err)
	}
	if n := fv.Stats().Calls; n != 0 {
		t.Fatalf("%d upstream calls", n)
	}
}

func TestClosedEngineRefusesCallsAndClosesOnce(t *testing.T) {
	e, _ := newTestEngine(t)
	e.Close()
	e.Close()
	_, err := e.Resolve(context.Background(), validRequest().json())
	var vErr *Error
	if !asError(err, &vErr) || vErr.Status != StatusShuttingDown || vErr.HTTPStatus != 503 {
		t.Fatalf("Resolve after Close: %v", err)
	}
	if _, err := e.Stats(); !asError(err, &vErr) || vErr.Status != StatusShuttingDown {
		t.Fatalf("Stats after Close: %v", err)
	}
}

func TestArtifactFileIsOwnedByTheCaller(t *testing.T) {
	e, _ := newTestEngine(t)
	req := validRequest()
	a, err := e.Resolve(context.Background(), req.json())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.File.Close() }()
	if a.Key != req.key() || a.Source != SourceBuilt || a.Size != 4096 {
		t.Fatalf("artifact: key=%s source=%d size=%d", a.Key, a.Source, a.Size)
	}
	// The library's own descriptor is closed by now; ours must still read the bytes.
	buf := make([]byte, a.Size)
	if n, err := a.File.ReadAt(buf, 0); err != nil || int64(n) != a.Size {
		t.Fatalf("reading the artifact: %d bytes, %v", n, err)
	}
	if string(buf) != string(fakevelox.Content(req.key(), int(a.Size))) {
		t.Fatal("artifact bytes differ from the build")
	}
	// vxm_artifact_sha256, in both backends: the hash of exactly these bytes.
	if a.SHA256 != contentHash(buf) {
		t.Fatalf("SHA256 = %q, want %q", a.SHA256, contentHash(buf))
	}
}

func TestShutdownEndsACallInFlightWithTheLibrarysShuttingDown(t *testing.T) {
	e, fv := newTestEngine(t)
	if err := fv.SetMode(fakevelox.Mode{Kind: fakevelox.Hang}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.Resolve(context.Background(), validRequest().json())
		done <- err
	}()
	if !fv.WaitFor(5*time.Second, func(s fakevelox.Stats) bool { return s.InFlight == 1 }) {
		t.Fatal("the build call never reached the fake")
	}
	e.Shutdown()
	e.Shutdown()
	var vErr *Error
	select {
	case err := <-done:
		if !asError(err, &vErr) || vErr.Status != StatusShuttingDown || vErr.HTTPStatus != 503 ||
			vErr.Code != "shutting_down" {
			t.Fatalf("Resolve in flight at Shutdown: %#v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Resolve still blocked after Shutdown")
	}
	// Not freed yet: later calls reach the library, which refuses them.
	_, err := e.Resolve(context.Background(), validRequest().json())
	if !asError(err, &vErr) || vErr.Status != StatusShuttingDown || vErr.HTTPStatus != 503 {
		t.Fatalf("Resolve after Shutdown: %v", err)
	}
	e.Close()
}
