package velox

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBuildRequestBodyDecodingIsBounded(t *testing.T) {
	limit := maxBody(t)
	plain := []byte(`{"rr_version":"v1.0.0"}`)
	cases := []struct {
		name     string
		body     []byte
		encoding string
		want     []byte
		errPart  string
	}{
		{"identity", plain, "", plain, ""},
		{"gzip by header", gzipped(t, plain), "gzip", plain, ""},
		{"gzip by magic bytes", gzipped(t, plain), "", plain, ""},
		{"x-gzip", gzipped(t, plain), "X-Gzip", plain, ""},
		{"gzip bomb", gzipped(t, bytes.Repeat([]byte("a"), limit+1)), "gzip", nil, "exceeds"},
		{"corrupt gzip", []byte("\x1f\x8bnot really"), "gzip", nil, "gzip"},
		{"unsupported encoding", plain, "br", nil, "Content-Encoding br"},
	}
	for _, c := range cases {
		got, err := buildRequestBody(&capture{body: c.body}, c.encoding, limit)
		if c.errPart == "" {
			if err != nil || !bytes.Equal(got, c.want) {
				t.Errorf("%s: %q, %v", c.name, got, err)
			}
			continue
		}
		if err == nil || err.HTTPStatus != http.StatusBadRequest || !strings.Contains(err.Message, c.errPart) {
			t.Errorf("%s: want a 400 mentioning %q, got %v", c.name, c.errPart, err)
		}
	}
	if _, err := buildRequestBody(&capture{tooBig: true}, "", limit); err == nil || err.HTTPStatus != http.StatusBadRequest {
		t.Errorf("an oversized capture: %v", err)
	}
}

// A worker that only sets the header (no body written) still asked for a build: it gets
// the library's 400 for an empty request rather than an empty 200.
func TestHeaderOnlyWorkerGetsA400(t *testing.T) {
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(HeaderBuild, "1")
	}))
	resp, body := h.get(nil)
	if resp.StatusCode != http.StatusBadRequest || decodeError(t, body).Code == "" {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}
