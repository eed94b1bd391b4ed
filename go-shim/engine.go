package velox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// The library version this shim was written against. While the library is 0.x, a
// different minor version may change the ABI, so both major and minor must match.
const abiVersion = "0.1.0"

// Source says where an artifact came from (vxm_artifact_source).
type Source uint32

const (
	SourceCache  Source = 0 // served from the disk cache
	SourceBuilt  Source = 1 // built by the Velox server for this call
	SourceJoined Source = 2 // joined an identical build already in flight
	SourceRemote Source = 3 // filled from the shared remote tier on a local miss
)

// CacheHeader is the value of the X-Velox-Cache response header.
func (s Source) CacheHeader() string {
	switch s {
	case SourceCache:
		return "HIT"
	case SourceBuilt:
		return "MISS"
	case SourceJoined:
		return "JOINED"
	case SourceRemote:
		return "REMOTE"
	default:
		return "UNKNOWN"
	}
}

// Artifact is a resolved binary. File is a private duplicate of the library's
// descriptor: the caller owns it and must Close it. Its bytes stay readable whatever
// eviction does to the cache directory.
type Artifact struct {
	File *os.File
	Size int64
	Key  string
	// SHA256 is the content hash (vxm_artifact_sha256), 64 lowercase hex: the ETag. The
	// key names the request; after a forced rebuild the same key names other bytes.
	SHA256 string
	Source Source
}

// Stats are the engine's counters (vxm_stats_json).
type Stats struct {
	Entries        uint64 `json:"entries"`
	Bytes          uint64 `json:"bytes"`
	Hits           uint64 `json:"hits"`
	Misses         uint64 `json:"misses"`
	Builds         uint64 `json:"builds"`
	Joined         uint64 `json:"joined"`
	Evictions      uint64 `json:"evictions"`
	UpstreamErrors uint64 `json:"upstream_errors"`

	// The whole cache directory, every process sharing it, as of the last store or
	// cleanup in any of them; nil before one. Entries and Bytes are this process's view.
	DirEntries *uint64 `json:"dir_entries"`
	DirBytes   *uint64 `json:"dir_bytes"`

	// Beyond docs/ABI.md's minimum (go-shim/metrics.go exports them).
	BuildsInFlight       uint64            `json:"builds_in_flight"`
	BuildsFailed         map[string]uint64 `json:"builds_failed"`
	EvictionsByReason    map[string]uint64 `json:"evictions_by_reason"`
	UpstreamErrorsByCode map[string]uint64 `json:"upstream_errors_by_code"`
	BuildDuration        HistogramStats    `json:"build_duration"`
	Remote               map[string]uint64 `json:"remote"`

	// Long builds (async.go): 202 answers, joins into a build a client had left,
	// builds that ended with nobody waiting, lingering builds nobody came back for,
	// remembered failures answered instead of a new build.
	AsyncAnswers        uint64 `json:"async_answers"`
	JoinedAfterLeave    uint64 `json:"joined_after_leave"`
	BuildsUnwatchedDone uint64 `json:"builds_unwatched_done"`
	LingerExpired       uint64 `json:"linger_expired"`
	FailuresReplayed    uint64 `json:"failures_replayed"`
	// Files in the cache directory the cache did not write, for the whole process.
	ForeignFiles uint64 `json:"foreign_files"`
}

// HistogramStats is a histogram as the library reports it: cumulative counts by upper
// bound in seconds (+Inf is Count), the sum in seconds and the count.
type HistogramStats struct {
	Buckets    [][2]float64 `json:"buckets"`
	SumSeconds float64      `json:"sum_seconds"`
	Count      uint64       `json:"count"`
}

// Engine is a Rust engine (vxm_engine): configuration, cache and Velox client. It is
// safe for concurrent use. Close it once, when no new calls will be made.
type Engine struct {
	h engineHandle

	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup // calls inside the library: vxm_engine_free waits for none
}

// NewEngine loads the library if needed (see LoadLibrary) and creates an engine from
// the JSON form of the `velox:` section.
func NewEngine(configJSON []byte) (*Engine, error) {
	if err := LoadLibrary(""); err != nil {
		return nil, err
	}
	h, err := engineNew(configJSON)
	if err != nil {
		return nil, err
	}
	return &Engine{h: h}, nil
}

// enter registers a call; it fails once Close has begun, so that no call can reach the
// library after vxm_engine_free started (the ABI forbids it).
func (e *Engine) enter() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errShuttingDown()
	}
	e.calls.Add(1)
	return nil
}

// Shutdown stops the engine without freeing it (vxm_engine_shutdown): the calls in
// flight return StatusShuttingDown promptly, and so do later ones. It returns once the
// calls have left the library. Close must still be called; calling Shutdown again, or
// after Close has begun, is harmless.
func (e *Engine) Shutdown() {
	if err := e.enter(); err != nil {
		return // Close has begun: it shuts the engine down itself
	}
	defer e.calls.Done()
	engineShutdown(e.h)
}

// Close shuts the engine down (see Shutdown), waits for its calls to return and frees
// it. Later calls fail with StatusShuttingDown. Calling Close again is a no-op.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()

	engineShutdown(e.h)
	e.calls.Wait()
	engineFree(e.h)
}

// Resolve turns a worker's build request into a binary: cache hit, a build in flight,
// or a new build. It blocks until then; when ctx ends the library is told to cancel and
// Resolve returns promptly with StatusCancelled; when the engine shuts down, the
// library ends the call with StatusShuttingDown.
func (e *Engine) Resolve(ctx context.Context, request []byte) (*Artifact, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.calls.Done()
	if err := ctx.Err(); err != nil {
		return nil, errCancelled()
	}

	var a artifactHandle
	err := e.cancellable(ctx, func(c cancelHandle) (err error) {
		a, err = resolve(e.h, request, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer artifactFree(a)
	return newArtifact(a)
}

// cancellable runs call with a cancel token that fires when ctx ends. The token exists
// before the call, so a cancel is never lost; the watcher is the only other user of the
// token and is gone before the token is freed.
func (e *Engine) cancellable(ctx context.Context, call func(c cancelHandle) error) error {
	c := cancelNew()
	done := make(chan struct{})
	watcherGone := make(chan struct{})
	go func() {
		defer close(watcherGone)
		select {
		case <-ctx.Done():
			cancelTrigger(c)
		case <-done:
		}
	}()

	err := call(c)
	close(done)
	<-watcherGone
	cancelFree(c)
	return err
}

// newArtifact copies what the host needs out of a library artifact, duplicating its
// descriptor so the library's artifact can be freed at once.
func newArtifact(a artifactHandle) (*Artifact, error) {
	fd := artifactFd(a)
	if fd < 0 {
		return nil, libraryError(StatusIO, "artifact has no file descriptor")
	}
	nfd, err := dupCloexec(int(fd))
	if err != nil {
		return nil, libraryError(StatusIO, "dup artifact fd: "+err.Error())
	}
	key := artifactKey(a)
	return &Artifact{
		File:   os.NewFile(uintptr(nfd), artifactPath(a)),
		Size:   int64(artifactSize(a)),
		Key:    key,
		SHA256: artifactSHA256(a),
		Source: Source(artifactSource(a)),
	}, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() (Stats, error) {
	return engineJSON[Stats](e, "stats", statsJSON)
}

// engineJSON decodes one of the library's JSON reports on the engine; what names the
// report in a decoding error.
func engineJSON[T any](e *Engine, what string, report func(engineHandle) (string, error)) (T, error) {
	var v T
	if err := e.enter(); err != nil {
		return v, err
	}
	defer e.calls.Done()
	raw, err := report(e.h)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("velox: %s: %w", what, err)
	}
	return v, nil
}

// LibraryVersion is the version string of the loaded library.
func LibraryVersion() string {
	if err := LoadLibrary(""); err != nil {
		return ""
	}
	return libVersion()
}

// checkVersion refuses a library whose ABI may differ from the one compiled in here.
func checkVersion(got string) error {
	if compatibleVersion(abiVersion, got) {
		return nil
	}
	return fmt.Errorf("velox: library version %q is not compatible with this plugin (built for %s; "+
		"major and, while 0.x, minor versions must match)", got, abiVersion)
}

func compatibleVersion(want, got string) bool {
	wMaj, wMin, ok1 := majorMinor(want)
	gMaj, gMin, ok2 := majorMinor(got)
	if !ok1 || !ok2 || wMaj != gMaj {
		return false
	}
	return wMaj != 0 || wMin == gMin
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return maj, minor, err1 == nil && err2 == nil
}
