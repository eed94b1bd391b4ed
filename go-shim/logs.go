package velox

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The library queues its log records process-wide (no callbacks, which purego can
// only make a limited number of). One goroutine per process pulls them with
// vxm_log_next and writes them to the zap logger of the newest running plugin.

// How long one vxm_log_next waits. Stop does not wait for it: vxm_log_wake ends it.
const logPollMillis = 2000

// Upper bound of records written after Stop, so a library that keeps logging cannot
// hold shutdown.
const logFinalDrain = 10000

var drainer struct {
	mu       sync.Mutex // held across start and the whole of stop
	refs     int
	current  atomic.Pointer[zap.Logger]
	stopping atomic.Bool
	done     chan struct{}
}

// logDrain is one plugin's registration with the process-wide drain.
type logDrain struct {
	once sync.Once
}

// startLogDrain makes log the destination of the library's records and starts the
// drain if it is not running. It also sets the library's level to what log lets
// through (a `log_level` key in the configuration, applied later by the engine, wins).
func startLogDrain(log *zap.Logger) *logDrain {
	if err := logSetLevel(libraryLevel(log)); err != nil {
		log.Warn("cannot set the library's log level", zap.Error(err))
	}
	drainer.mu.Lock()
	defer drainer.mu.Unlock()
	drainer.current.Store(log)
	drainer.refs++
	if drainer.refs == 1 {
		drainer.stopping.Store(false)
		drainer.done = make(chan struct{})
		go drainLogs(drainer.done)
	}
	return &logDrain{}
}

// stop ends this registration; the last one stops the drain after writing what the
// library queued until now (Stop's own records included). Nil-safe and idempotent.
func (d *logDrain) stop() {
	if d == nil {
		return
	}
	d.once.Do(func() {
		drainer.mu.Lock()
		defer drainer.mu.Unlock()
		drainer.refs--
		if drainer.refs > 0 {
			return
		}
		drainer.stopping.Store(true)
		logWake()
		<-drainer.done
	})
}

func drainLogs(done chan struct{}) {
	defer close(done)
	for !drainer.stopping.Load() {
		rec, st := logNext(logPollMillis)
		switch st {
		case StatusOK:
			writeRecord(drainer.current.Load(), rec)
		case StatusNotFound:
		default:
			// Not expected; do not spin if the library keeps failing.
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i := 0; i < logFinalDrain; i++ {
		rec, st := logNext(0)
		if st != StatusOK {
			return
		}
		writeRecord(drainer.current.Load(), rec)
	}
}

// libraryRecord is one record of vxm_log_next.
type libraryRecord struct {
	Level   string                     `json:"level"`
	Target  string                     `json:"target"`
	Message string                     `json:"message"`
	Fields  map[string]json.RawMessage `json:"fields"`
	Dropped uint64                     `json:"dropped"`
}

func writeRecord(log *zap.Logger, raw string) {
	if log == nil {
		return
	}
	var rec libraryRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		log.Warn("unreadable library log record", zap.String("record", raw), zap.Error(err))
		return
	}
	if rec.Dropped > 0 {
		log.Warn("library log records were dropped: the queue was full", zap.Uint64("dropped", rec.Dropped))
	}
	ce := log.Check(zapLevel(rec.Level), rec.Message)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, len(rec.Fields)+1)
	names := make([]string, 0, len(rec.Fields))
	for k := range rec.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fields = append(fields, zapField(k, rec.Fields[k]))
	}
	if rec.Target != "" {
		fields = append(fields, zap.String("target", rec.Target))
	}
	ce.Write(fields...)
}

// zapField keeps the JSON type of a field: strings, integers (exactly), floats,
// booleans; anything else as its JSON text.
func zapField(k string, v json.RawMessage) zap.Field {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return zap.String(k, string(v))
	}
	switch t := x.(type) {
	case string:
		return zap.String(k, t)
	case bool:
		return zap.Bool(k, t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return zap.Int64(k, i)
		}
		if u, err := strconv.ParseUint(t.String(), 10, 64); err == nil {
			return zap.Uint64(k, u) // sizes and counters are u64 in Rust
		}
		if f, err := t.Float64(); err == nil {
			return zap.Float64(k, f)
		}
		return zap.String(k, t.String())
	case nil:
		return zap.Skip()
	default:
		return zap.String(k, string(v))
	}
}

func zapLevel(level string) zapcore.Level {
	switch level {
	case "error":
		return zapcore.ErrorLevel
	case "warn":
		return zapcore.WarnLevel
	case "info":
		return zapcore.InfoLevel
	default: // debug, trace
		return zapcore.DebugLevel
	}
}

// libraryLevel is the library level that produces exactly what log lets through
// (zap has no trace level, so debug is the most the library is asked for).
func libraryLevel(log *zap.Logger) string {
	switch {
	case log.Core().Enabled(zapcore.DebugLevel):
		return "debug"
	case log.Core().Enabled(zapcore.InfoLevel):
		return "info"
	case log.Core().Enabled(zapcore.WarnLevel):
		return "warn"
	case log.Core().Enabled(zapcore.ErrorLevel):
		return "error"
	default:
		return "off"
	}
}
