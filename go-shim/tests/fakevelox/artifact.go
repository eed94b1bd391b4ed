package fakevelox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// requestKey is the middleware's key function (velox.RequestKey), registered by
// SetRequestKey: the fake cannot import the middleware itself, whose own tests import
// the fake.
var requestKey atomic.Pointer[func(requestJSON []byte) (string, error)]

// SetRequestKey registers the middleware's key function (velox.RequestKey), so that the
// fake names builds with the library's own key instead of a formula of its own. Call it
// before the first build; Key panics without it.
func SetRequestKey(f func(requestJSON []byte) (string, error)) {
	requestKey.Store(&f)
}

// Key is the library's cache key of a worker's request for these fields (the seed
// plugin's key), or "" when the library refuses the request. Tests use it to find cache
// entries and to pre-write a cache directory.
func Key(rrVersion, os, arch string, plugins []Plugin) string {
	f := requestKey.Load()
	if f == nil {
		panic("fakevelox: SetRequestKey(velox.RequestKey) was not called")
	}
	body, err := json.Marshal(workerRequest{rrVersion, Platform{os, arch}, plugins})
	if err != nil {
		return ""
	}
	key, err := (*f)(body)
	if err != nil {
		return ""
	}
	return key
}

// workerRequest is a PHP worker's build request, what the library's key reads.
type workerRequest struct {
	RRVersion      string   `json:"rr_version"`
	TargetPlatform Platform `json:"target_platform"`
	Plugins        []Plugin `json:"plugins"`
}

// Key is the library's key of this request.
func (r *BuildRequest) Key() string {
	p := r.platform()
	return Key(r.RRVersion, p.OS, p.Arch, r.Plugins)
}

// Content is the deterministic "binary" built for a key: a readable header naming the
// key, then pseudo-random bytes seeded by the key, cut or padded to size. The same key
// and size always give the same bytes, so a test can check what it downloaded.
func Content(key string, size int) []byte {
	out := make([]byte, 0, size)
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
