package velox

import "testing"

// Every source the library reports has its own X-Velox-Cache value; a new one must
// never show up as UNKNOWN.
func TestEverySourceHasItsCacheHeader(t *testing.T) {
	want := map[Source]string{
		SourceCache:  "HIT",
		SourceBuilt:  "MISS",
		SourceJoined: "JOINED",
		SourceRemote: "REMOTE",
		Source(99):   "UNKNOWN",
	}
	for s, h := range want {
		if got := s.CacheHeader(); got != h {
			t.Errorf("Source(%d).CacheHeader() = %q, want %q", s, got, h)
		}
	}
}
