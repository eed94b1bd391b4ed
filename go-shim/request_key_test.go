package velox

import (
	"net/http"
	"testing"
)

func TestRequestKeyIsTheSeedPluginsKey(t *testing.T) {
	// The seed plugin's key of this request, as the C ABI test pins it.
	const req = `{"rr_version":"v2025.1.2","target_platform":{"os":"windows","arch":"amd64"},` +
		`"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.2.7"},` +
		`{"module_name":"github.com/roadrunner-server/grpc/v5","tag":"v5.1.0"}]}`
	const want = "df2ccba7540d565268726e19408c60ce4acf709b8a50f78056a8283c46e1ae75"
	got, err := RequestKey([]byte(req))
	if err != nil || got != want {
		t.Fatalf("RequestKey = %q, %v; want %q", got, err, want)
	}
}

func TestRequestKeyRefusesWhatTheLibraryRefuses(t *testing.T) {
	_, err := RequestKey([]byte(`{"rr_version":"v2025.1.5","target_platform":{"os":"plan10","arch":"amd64"},"plugins":[]}`))
	var vErr *Error
	if !asError(err, &vErr) || vErr.Status != StatusInvalidRequest || vErr.HTTPStatus != http.StatusBadRequest ||
		vErr.Code != "invalid_request" {
		t.Fatalf("RequestKey of a bad request: %#v", err)
	}
}
