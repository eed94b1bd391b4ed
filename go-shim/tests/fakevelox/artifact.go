package fakevelox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Key is the seed plugin's cache key of a request: SHA-256 hex of
// `rr_version|os|arch|module@tag|...` with plugins sorted by module, then tag. Tests use
// it to find cache entries and to pre-write a cache directory.
func Key(rrVersion, os, arch string, plugins []Plugin) string {
	sorted := append([]Plugin(nil), plugins...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].ModuleName != sorted[j].ModuleName {
			return sorted[i].ModuleName < sorted[j].ModuleName
		}
		return sorted[i].Tag < sorted[j].Tag
	})
	parts := []string{rrVersion, os, arch}
	for _, p := range sorted {
		parts = append(parts, p.ModuleName+"@"+p.Tag)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(sum[:])
}

// Key is the seed formula applied to this request.
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
