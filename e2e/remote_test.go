package e2e

// TestE2ES3MultiHost: the shared remote tier (cache.remote) with real RoadRunner
// processes as "hosts" (separate cache directories) on one bucket of a real S3 server
// (SeaweedFS on 127.0.0.1, scripts/seaweedfs.sh). Runs with VXM_S3_TESTS=1 (make e2e-s3).

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

const (
	s3AccessKey = "velox-e2e-key"
	s3SecretKey = "velox-e2e-secret-0123456789"
	s3Region    = "us-east-1"
)

// seaweed is a SeaweedFS `weed mini` started by scripts/seaweedfs.sh.
type seaweed struct {
	root, dir, endpoint string
	stopped             bool
}

func startSeaweed(t *testing.T) *seaweed {
	t.Helper()
	root := repoRoot(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	s := &seaweed{root: root, dir: t.TempDir(), endpoint: "http://" + addr}
	cmd := exec.Command(filepath.Join(root, "scripts", "seaweedfs.sh"), "start", s.dir, port)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3AccessKey, "AWS_SECRET_ACCESS_KEY="+s3SecretKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seaweedfs.sh start: %v\n%s", err, out)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *seaweed) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	_ = exec.Command(filepath.Join(s.root, "scripts", "seaweedfs.sh"), "stop", s.dir).Run()
}

// newRemoteHost is one RoadRunner with its own cache directory, the shared fake Velox
// server and the shared bucket.
func newRemoteHost(t *testing.T, name string, velox *fakevelox.Server, s3 *seaweed, prefix string) *env {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	e := &env{t: t, binary: filepath.Join(root, "build", name), velox: velox, dir: dir, cacheDir: filepath.Join(dir, "cache")}
	if err := os.MkdirAll(e.cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.cfg = rrConfig{
		Worker:         filepath.Join(root, "e2e", "php", "worker.php"),
		ServerURL:      velox.URL,
		OutputDir:      velox.OutputDir,
		CacheDir:       e.cacheDir,
		BuildTimeout:   "60s",
		RequestTimeout: "30s",
		RemoteURL:      "s3://velox/" + prefix,
		RemoteEndpoint: s3.endpoint,
	}
	e.start()
	t.Cleanup(func() { e.stop(false) })
	return e
}

func TestE2ES3MultiHost(t *testing.T) {
	if os.Getenv("VXM_S3_TESTS") != "1" {
		t.Skip("set VXM_S3_TESTS=1 (make e2e-s3) to run against SeaweedFS")
	}
	bin := binaries()[0]
	s3 := startSeaweed(t)
	// RoadRunner inherits these: the library signs with the standard AWS environment.
	t.Setenv("AWS_ACCESS_KEY_ID", s3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3SecretKey)
	velox, err := fakevelox.Start(fakevelox.Options{OutputDir: filepath.Join(t.TempDir(), "velox-out"), Size: artifactSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(velox.Close)
	if err := os.MkdirAll(velox.OutputDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := []*env{}
	for range 3 {
		hosts = append(hosts, newRemoteHost(t, bin, velox, s3, "e2e"))
	}
	ctx := ctxFor(t, 5*time.Minute)

	// 30 identical misses over three hosts: one upstream build, 30 correct downloads.
	const module = "github.com/e2e/remote-shared"
	must(velox.SetMode(fakevelox.Mode{Kind: fakevelox.Slow, Delay: 2 * time.Second}))
	results := make([]download, 30)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = get(ctx, hosts[i%3].url(buildPath(module, "")), nil)
		}()
	}
	wg.Wait()
	sources := expectArtifacts(t, results, module)
	t.Logf("X-Velox-Cache of 30 requests over 3 hosts: %v", sources)
	if st := velox.Stats(); st.Calls != 1 || st.Builds != 1 {
		t.Fatalf("30 identical requests over 3 hosts made %d upstream calls (%d builds), want 1", st.Calls, st.Builds)
	}
	if sources["REMOTE"] < 2 {
		t.Errorf("the two hosts that did not build should have filled from the bucket: %v", sources)
	}

	// A fourth host with an empty cache: REMOTE, then HIT, no upstream call.
	fourth := newRemoteHost(t, bin, velox, s3, "e2e")
	expectArtifact(t, get(ctx, fourth.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "REMOTE")
	expectArtifact(t, get(ctx, fourth.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
	if st := velox.Stats(); st.Calls != 1 {
		t.Fatalf("the fourth host called upstream: %d calls", st.Calls)
	}

	// A corrupted object (other bytes, the real hash as metadata) is never served.
	const corrupt = "github.com/e2e/remote-corrupt"
	must(velox.SetMode(fakevelox.Mode{Kind: fakevelox.Normal}))
	good := fakevelox.Content(keyOf(corrupt), artifactSize)
	s3Put(t, s3.endpoint, "velox/e2e/"+keyOf(corrupt)+".bin", []byte("tampered bytes"), sum(good))
	expectArtifact(t, get(ctx, hosts[0].url(buildPath(corrupt, "")), nil), keyOf(corrupt), artifactSize, "MISS")
	if st := velox.Stats(); st.Calls != 2 {
		t.Fatalf("the corrupt object should have been rebuilt once: %d calls", st.Calls)
	}

	// Another combination's genuine build under this key, its own hash as metadata: the
	// bytes are intact but the build information names another plugin, so the object is
	// refused and the key built again.
	const swapped = "github.com/e2e/remote-swapped"
	other := fakevelox.Content(keyOf(module), artifactSize)
	s3Put(t, s3.endpoint, "velox/e2e/"+keyOf(swapped)+".bin", other, sum(other))
	expectArtifact(t, get(ctx, hosts[0].url(buildPath(swapped, "")), nil), keyOf(swapped), artifactSize, "MISS")
	if st := velox.Stats(); st.Calls != 3 {
		t.Fatalf("the swapped object should have been rebuilt once: %d calls", st.Calls)
	}

	// The S3 server stops mid-run: a new key still builds and downloads, a host's local
	// copy is still a HIT, and a fresh host builds instead of failing.
	s3.stop()
	const after = "github.com/e2e/remote-after-stop"
	expectArtifact(t, get(ctx, hosts[1].url(buildPath(after, "")), nil), keyOf(after), artifactSize, "MISS")
	expectArtifact(t, get(ctx, hosts[1].url(buildPath(module, "")), nil), keyOf(module), artifactSize, "HIT")
	fifth := newRemoteHost(t, bin, velox, s3, "e2e")
	expectArtifact(t, get(ctx, fifth.url(buildPath(module, "")), nil), keyOf(module), artifactSize, "MISS")
}

// s3Put uploads body with an x-amz-meta-sha256 of metaSHA, signed with AWS Signature
// Version 4 (the test's only S3 write that does not go through the library).
func s3Put(t *testing.T, endpoint, path string, body []byte, metaSHA string) {
	t.Helper()
	now := time.Now().UTC()
	amzDate, day := now.Format("20060102T150405Z"), now.Format("20060102")
	payload := hexSHA(body)
	host := strings.TrimPrefix(endpoint, "http://")
	signed := "host;x-amz-content-sha256;x-amz-date;x-amz-meta-sha256"
	canonical := strings.Join([]string{
		"PUT", "/" + path, "",
		"host:" + host, "x-amz-content-sha256:" + payload, "x-amz-date:" + amzDate, "x-amz-meta-sha256:" + metaSHA, "",
		signed, payload,
	}, "\n")
	scope := day + "/" + s3Region + "/s3/aws4_request"
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, scope, hexSHA([]byte(canonical))}, "\n")
	key := []byte("AWS4" + s3SecretKey)
	for _, part := range []string{day, s3Region, "s3", "aws4_request"} {
		key = hmacSHA(key, part)
	}
	req, err := http.NewRequest(http.MethodPut, endpoint+"/"+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("x-amz-content-sha256", payload)
	req.Header.Set("x-amz-date", amzDate)
	req.Header.Set("x-amz-meta-sha256", metaSHA)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s3AccessKey+"/"+scope+
		", SignedHeaders="+signed+", Signature="+hex.EncodeToString(hmacSHA(key, toSign)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: status %d", path, resp.StatusCode)
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
