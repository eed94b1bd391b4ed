package velox

import "testing"

// The shim's own errors carry the library's answer for their status.
func TestShimErrorsAnswerWhatTheLibraryDecides(t *testing.T) {
	if err := LoadLibrary(""); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		err  *Error
		http int
		code string
	}{
		{errShuttingDown(), 503, "shutting_down"},
		{errCancelled(), 499, "cancelled"},
		{errBadBody("body: x"), 400, "invalid_request"},
		{libraryError(StatusIO, "dup: x"), 500, "io"},
		{libraryError(StatusTimeout, "x"), 504, "timeout"},
	}
	for _, c := range cases {
		if c.err.HTTPStatus != c.http || c.err.Code != c.code {
			t.Errorf("status %d: got %d %q, want %d %q", c.err.Status, c.err.HTTPStatus, c.err.Code, c.http, c.code)
		}
	}
}

func TestTheRequestLimitIsTheLibrarys(t *testing.T) {
	if got := maxBody(t); got != 1<<20 {
		t.Fatalf("MaxRequestBody = %d, want the library's 1 MiB", got)
	}
}
