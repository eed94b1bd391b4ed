package velox

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// HeaderCache tells the client where the binary came from: HIT, MISS or JOINED.
const HeaderCache = "X-Velox-Cache"

// Worker headers that described the build request, not the binary.
var droppedWorkerHeaders = []string{HeaderBuild, "Content-Encoding", "Content-Length", "Content-Type"}

// serveArtifact sends the binary with http.ServeContent, which gives Content-Length,
// Range, HEAD and If-None-Match/If-Range against our ETag. a.File is passed as the
// *os.File itself: net/http then copies it with sendfile(2) (ServeContent -> io.CopyN
// -> response.ReadFrom -> TCPConn.ReadFrom), so it must not be wrapped. The writer is
// wrapped in fairWriter, which keeps sendfile but bounds each call (fairshare.go).
func serveArtifact(w http.ResponseWriter, r *http.Request, a *Artifact, fileName string) {
	h := w.Header()
	for _, k := range droppedWorkerHeaders {
		h.Del(k)
	}
	h.Set("Content-Type", "application/octet-stream")
	if h.Get("Content-Disposition") == "" {
		h.Set("Content-Disposition", `attachment; filename="`+fileName+`"`)
	}
	// The content hash, not the key: after force_rebuild one key names other bytes, and
	// Range/If-Range must never stitch two builds together.
	if a.SHA256 != "" {
		h.Set("ETag", `"`+a.SHA256+`"`)
	}
	h.Set(HeaderCache, a.Source.CacheHeader())
	// The hash names the content, so there is no meaningful modification time.
	http.ServeContent(fairWriter{w}, r, fileName, time.Time{}, a.File)
}

// binaryFileName is "rr-<rr_version>-<os>-<arch>" (".exe" for windows) from the build
// request, which the library has already validated; only a few fields are read.
func binaryFileName(request []byte) string {
	var req struct {
		RRVersion      string `json:"rr_version"`
		TargetPlatform struct {
			OS   string `json:"os"`
			Arch string `json:"arch"`
		} `json:"target_platform"`
	}
	_ = json.Unmarshal(request, &req)
	name := "rr"
	for _, part := range []string{req.RRVersion, req.TargetPlatform.OS, req.TargetPlatform.Arch} {
		if p := fileNameSafe(part); p != "" {
			name += "-" + p
		}
	}
	if strings.EqualFold(req.TargetPlatform.OS, "windows") {
		name += ".exe"
	}
	return name
}

// fileNameSafe keeps characters that need no quoting in a header or a file system.
func fileNameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '+':
			return r
		default:
			return -1
		}
	}, s)
}
