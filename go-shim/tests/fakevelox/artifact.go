package fakevelox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
)

// requestKey is the middleware's key function (velox.RequestKey), registered by
// SetRequestKey: the fake cannot import the middleware itself, whose own tests import
// the fake.
var requestKey atomic.Pointer[func(requestJSON []byte) (string, error)]

// built remembers the request behind every key handed out, so that Content can write
// the build information of the binary that key names (a key is a hash: it cannot be
// read back).
var built sync.Map // key -> Build

// SetRequestKey registers the middleware's key function (velox.RequestKey), so that the
// fake names builds with the library's own key instead of a formula of its own. Call it
// before the first build; Key panics without it.
func SetRequestKey(f func(requestJSON []byte) (string, error)) {
	requestKey.Store(&f)
}

// Build is what a binary is built from: a PHP worker's build request as the library's
// key reads it (snake_case), without the fields that do not change the binary.
type Build struct {
	RRVersion      string    `json:"rr_version"`
	TargetPlatform Platform  `json:"target_platform"`
	Plugins        []Plugin  `json:"plugins"`
	Replaces       []Replace `json:"replaces,omitempty"`
	Excludes       []Exclude `json:"excludes,omitempty"`
	Race           bool      `json:"race,omitempty"`
	Debug          bool      `json:"debug,omitempty"`
}

// Key is the library's cache key of a worker's request for these fields (the seed
// plugin's key), or "" when the library refuses the request. Tests use it to find cache
// entries and to pre-write a cache directory.
func Key(rrVersion, os, arch string, plugins []Plugin) string {
	return Build{RRVersion: rrVersion, TargetPlatform: Platform{os, arch}, Plugins: plugins}.Key()
}

// Key is the library's cache key of this build, or "" when the library refuses it.
func (b Build) Key() string {
	f := requestKey.Load()
	if f == nil {
		panic("fakevelox: SetRequestKey(velox.RequestKey) was not called")
	}
	body, err := json.Marshal(b)
	if err != nil {
		return ""
	}
	key, err := (*f)(body)
	if err != nil {
		return ""
	}
	built.Store(key, b)
	return key
}

// Key is the library's key of this request.
func (r *BuildRequest) Key() string {
	return r.build().Key()
}

// Content is the deterministic binary built for a key: an ELF executable carrying the Go
// build information of the build behind the key (see buildinfo.go), then pseudo-random
// bytes seeded by the key up to size. The same key and size always give the same bytes,
// so a test can check what it downloaded. The file is never shorter than the executable
// itself (under 1 KB for a few plugins). The key must come from Key, here or in the
// server.
func Content(key string, size int) []byte {
	if key == "" {
		panic("fakevelox: Content(\"\"): the key is empty, so the library refused the request or was not loaded ($VELOX_MIDDLEWARE_LIB)")
	}
	b, ok := built.Load(key)
	if !ok {
		panic(fmt.Sprintf("fakevelox: Content(%q): no build has this key (compute keys with fakevelox.Key)", key))
	}
	return b.(Build).content(key, size)
}

// content is the binary of this build under key (see Content).
func (b Build) content(key string, size int) []byte {
	out := elfExecutable(goVersion, b.modInfo(), b.TargetPlatform.Arch, size)
	if len(out) >= size {
		return out
	}
	out = append(out, fmt.Sprintf("FAKEVELOX %s\n", key)...)
	seed := sha256.Sum256([]byte(key))
	var block [8]byte
	for counter := uint64(0); len(out) < size; counter++ {
		binary.LittleEndian.PutUint64(block[:], counter)
		h := sha256.New()
		h.Write(seed[:])
		h.Write(block[:])
		out = append(out, h.Sum(nil)...)
	}
	return out[:size]
}
