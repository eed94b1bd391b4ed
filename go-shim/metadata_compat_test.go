package velox

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

// seedCacheEntry is the original Go plugin's metadata type, field for field: its reader
// decodes {key}.json into this with encoding/json, which ignores fields it does not know.
type seedCacheEntry struct {
	Version    string `json:"version"`
	Hash       string `json:"hash"`
	BinaryFile string `json:"binary_file"`
	FileSize   int64  `json:"file_size"`
	RRVersion  string `json:"rr_version"`
	Platform   struct {
		OS   string `json:"os"`
		Arch string `json:"arch"`
	} `json:"platform"`
	Plugins []struct {
		ModuleName string `json:"module_name"`
		Tag        string `json:"tag"`
	} `json:"plugins"`
	CreatedAt       int64 `json:"created_at"`
	LastAccessed    int64 `json:"last_accessed"`
	AccessCount     int64 `json:"access_count"`
	BuildDurationMs int64 `json:"build_duration_ms"`
}

// The metadata the library writes still reads as the seed's CacheEntry (every field
// filled); of the two fields it adds, sha256 is the artifact's hash and provenance the
// build information verified against the request.
func TestMetadataStillReadsAsTheSeedPluginsCacheEntry(t *testing.T) {
	fv, err := fakevelox.Start(fakevelox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fv.Close)
	cfg := engineSection(t, fv)
	dir := cfg["cache"].(map[string]any)["directory"].(string)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	req := validRequest()
	a, err := e.Resolve(context.Background(), req.json())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.File.Close() }()

	data, err := os.ReadFile(filepath.Join(dir, req.key()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed seedCacheEntry
	if err := json.Unmarshal(data, &seed); err != nil {
		t.Fatalf("the seed's reader fails: %v", err)
	}
	if seed.Version != "1.0" || seed.Hash != req.key() || seed.BinaryFile != req.key()+".bin" ||
		seed.FileSize != a.Size || seed.RRVersion == "" || seed.Platform.OS == "" ||
		seed.Platform.Arch == "" || len(seed.Plugins) == 0 || seed.CreatedAt == 0 ||
		seed.LastAccessed == 0 || seed.AccessCount != 1 {
		t.Fatalf("seed fields missing: %+v\n%s", seed, data)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 13 {
		t.Fatalf("%d fields, want the seed's 11 plus sha256 and provenance: %s", len(all), data)
	}
	var sum string
	if err := json.Unmarshal(all["sha256"], &sum); err != nil || sum != a.SHA256 || len(sum) != 64 {
		t.Fatalf("sha256 = %q (%v), artifact says %q", sum, err, a.SHA256)
	}
	var provenance struct {
		GoVersion string `json:"go_version"`
		GOOS      string `json:"goos"`
		GOARCH    string `json:"goarch"`
		Plugins   []struct {
			ModuleName string `json:"module_name"`
			Version    string `json:"version"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(all["provenance"], &provenance); err != nil {
		t.Fatalf("provenance: %v", err)
	}
	plugin := req.Plugins[0]
	if provenance.GoVersion == "" || provenance.GOOS != req.TargetPlatform.OS || provenance.GOARCH != req.TargetPlatform.Arch ||
		len(provenance.Plugins) != 1 || provenance.Plugins[0].ModuleName != plugin["module_name"] ||
		provenance.Plugins[0].Version != plugin["tag"] {
		t.Fatalf("provenance does not record the verified build: %+v", provenance)
	}
}
