package fakevelox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	velox "github.com/velox-middleware/go-shim"
)

// The fake names builds with the library's key (VELOX_MIDDLEWARE_LIB, or the cgo
// backend's static library).
func init() { SetRequestKey(velox.RequestKey) }

const validBody = `{"request_id":"0b6f1a52-3c1e-4f4e-9d7a-2b1f0c9e8a11","rr_version":"v2025.1.15",
"target_platform":{"os":"linux","arch":"amd64"},
"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.3.0"}]}`

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(Options{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func build(ctx context.Context, t *testing.T, s *Server, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+BuildPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Connect-Timeout-Ms", "5000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]string{"error": err.Error()}
	}
	defer resp.Body.Close()
	out := map[string]string{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestBuildWritesDeterministicFileInOutputDir(t *testing.T) {
	s := start(t)
	status, out := build(context.Background(), t, s, validBody)
	if status != 200 {
		t.Fatalf("status %d %v", status, out)
	}
	if !strings.HasPrefix(out["path"], s.OutputDir) {
		t.Fatalf("path %q outside %q", out["path"], s.OutputDir)
	}
	got, err := os.ReadFile(out["path"])
	if err != nil {
		t.Fatal(err)
	}
	key := Key("v2025.1.15", "linux", "amd64", []Plugin{{"github.com/roadrunner-server/http/v5", "v5.3.0"}})
	if !bytes.Equal(got, Content(key, 1000)) {
		t.Fatal("file content is not Content(key, size)")
	}
	calls := s.Calls()
	if len(calls) != 1 || calls[0].Key != key || calls[0].TimeoutMs != 5000 {
		t.Fatalf("calls %+v", calls)
	}
}

func TestValidationRulesAnswerInvalidArgument(t *testing.T) {
	s := start(t)
	for name, body := range map[string]string{
		"not json":     `{`,
		"bad uuid":     strings.Replace(validBody, "0b6f1a52-", "nope-", 1),
		"bad version":  strings.Replace(validBody, "v2025.1.15", "2025.1", 1),
		"no plugins":   `{"rr_version":"v2025.1.15","plugins":[]}`,
		"empty tag":    `{"rr_version":"master","plugins":[{"module_name":"x","tag":""}]}`,
		"empty module": `{"rrVersion":"v1.2.3","plugins":[{"moduleName":"","tag":"v1"}]}`,
	} {
		status, out := build(context.Background(), t, s, body)
		if status != 400 || out["code"] != "invalid_argument" || out["message"] == "" {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
}

func TestDuplicateInFlightGetsAlreadyExists(t *testing.T) {
	s := start(t)
	_ = s.SetMode(Mode{Kind: Slow, Delay: 500 * time.Millisecond})
	done := make(chan int)
	go func() { st, _ := build(context.Background(), t, s, validBody); done <- st }()
	if !s.WaitFor(2*time.Second, func(st Stats) bool { return st.Building == 1 }) {
		t.Fatal("first call not building")
	}
	if st, out := build(context.Background(), t, s, validBody); st != 409 || out["code"] != "already_exists" {
		t.Fatalf("duplicate: %d %v", st, out)
	}
	if st := <-done; st != 200 {
		t.Fatalf("first: %d", st)
	}
}

func TestHangRecordsClientCancellation(t *testing.T) {
	s := start(t)
	_ = s.SetMode(Mode{Kind: Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	build(ctx, t, s, validBody)
	if !s.WaitFor(2*time.Second, func(st Stats) bool { return st.Cancelled == 1 }) {
		t.Fatalf("cancellation not seen: %+v", s.Stats())
	}
}

func TestDownRefusesThenComesBack(t *testing.T) {
	s := start(t)
	_ = s.SetMode(Mode{Kind: Down})
	if st, out := build(context.Background(), t, s, validBody); st != 0 {
		t.Fatalf("down answered %d %v", st, out)
	}
	if err := s.SetMode(Mode{}); err != nil {
		t.Fatal(err)
	}
	if st, out := build(context.Background(), t, s, validBody); st != 200 {
		t.Fatalf("after down: %d %v", st, out)
	}
}

func TestFailCountThenNormalViaControlEndpoint(t *testing.T) {
	s := start(t)
	resp, err := http.Post(s.ControlURL+"/_control", "application/json",
		strings.NewReader(`{"kind":"fail","status":503,"count":1}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("control: %v %v", resp, err)
	}
	resp.Body.Close()
	if st, _ := build(context.Background(), t, s, validBody); st != 503 {
		t.Fatalf("first: %d", st)
	}
	if st, _ := build(context.Background(), t, s, validBody); st != 200 {
		t.Fatalf("second: %d", st)
	}
	resp, err = http.Get(s.ControlURL + "/_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	if st.Calls != 2 || st.Builds != 1 || st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// connect-go servers accept a request without Connect-Protocol-Version unless told to
// require it (Velox does not), and refuse a version other than "1".
func TestProtocolVersionHeaderIsOptionalButMustBeOne(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		version string
		want    int
	}{{"", 200}, {"1", 200}, {"2", 400}} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+BuildPath, strings.NewReader(validBody))
		req.Header.Set("Content-Type", "application/json")
		if tc.version != "" {
			req.Header.Set("Connect-Protocol-Version", tc.version)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Connect-Protocol-Version %q: status %d %v, want %d", tc.version, resp.StatusCode, out, tc.want)
		}
		if tc.want == 400 && out["code"] != "invalid_argument" {
			t.Errorf("Connect-Protocol-Version %q: code %q, want invalid_argument", tc.version, out["code"])
		}
	}
}

func TestConnectCodesTableHasTheSixteenCodesAsErrors(t *testing.T) {
	if n := len(connectCodes.CodeToHTTP); n != 16 {
		t.Fatalf("%d codes in connect_codes.json, Connect has 16", n)
	}
	for code, status := range connectCodes.CodeToHTTP {
		if status < 400 || status > 599 {
			t.Errorf("%s: status %d is not an error", code, status)
		}
	}
	if connectCodes.status("no_such_code") != 500 {
		t.Errorf("an unknown code answers %d", connectCodes.status("no_such_code"))
	}
}

func TestInjectedConnectErrorUsesTheTableStatus(t *testing.T) {
	s := start(t)
	if err := s.SetMode(Mode{Kind: Internal, Count: 1}); err != nil {
		t.Fatal(err)
	}
	status, out := build(context.Background(), t, s, validBody)
	if status != connectCodes.status("internal") || out["code"] != "internal" {
		t.Fatalf("%d %v", status, out)
	}
}
