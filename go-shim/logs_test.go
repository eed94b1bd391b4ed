package velox

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func TestLibraryRecordsKeepLevelMessageAndTypedFields(t *testing.T) {
	log, logs := newObservedLogger()
	z := log.NamedLogger(PluginName)
	writeRecord(z, `{"level":"warn","target":"velox_middleware::cache","message":"entry corrupt",`+
		`"fields":{"key":"ab12","size":18446744073709551615,"attempt":3,"ratio":0.5,"fresh":true},"dropped":7}`)
	writeRecord(z, `{"level":"trace","target":"t","message":"fine detail","fields":{}}`)
	writeRecord(z, `not json`)

	all := logs.All()
	if len(all) != 4 {
		t.Fatalf("want dropped warning, record, trace record, unreadable warning; got %d: %+v", len(all), all)
	}
	if all[0].Level != zapcore.WarnLevel || all[0].ContextMap()["dropped"] != uint64(7) {
		t.Fatalf("dropped report: %+v", all[0])
	}
	rec := all[1]
	if rec.Level != zapcore.WarnLevel || rec.Message != "entry corrupt" || rec.LoggerName != "velox" {
		t.Fatalf("record: %+v", rec)
	}
	want := map[string]any{
		"key": "ab12", "size": uint64(18446744073709551615), "attempt": int64(3), "ratio": 0.5, "fresh": true,
		"target": "velox_middleware::cache",
	}
	got := rec.ContextMap()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %#v (%T), want %#v", k, got[k], got[k], v)
		}
	}
	if all[2].Level != zapcore.DebugLevel {
		t.Fatalf("trace maps to debug, got %v", all[2].Level)
	}
}

func TestLibraryLogsOfABuildReachTheVeloxLogger(t *testing.T) {
	req := validRequest()
	h := newHarness(t, buildWorker(req.json(), nil))
	if resp, body := h.get(nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("build: %d %s", resp.StatusCode, body)
	}
	// Stop drains what the library queued before returning.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.plugin.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var fromLibrary int
	for _, e := range h.logs.All() {
		target, _ := e.ContextMap()["target"].(string)
		if e.LoggerName == "velox" && strings.HasPrefix(target, "velox_middleware") {
			fromLibrary++
		}
	}
	if fromLibrary == 0 {
		t.Fatalf("no library record reached the velox logger; got %d entries", h.logs.Len())
	}
}
