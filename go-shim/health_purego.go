//go:build (!cgo || !velox_cgo) && (linux || darwin)

package velox

// The purego binding of vxm_engine_health_json (health.go), registered with the other
// symbols when the library is loaded: a library without it fails to load by name.

import "unsafe"

var vxmEngineHealthJSON func(h unsafe.Pointer, out *unsafe.Pointer, outErr *unsafe.Pointer) uint32

func init() {
	librarySymbolsTable = append(librarySymbolsTable, struct {
		fn   any
		name string
	}{&vxmEngineHealthJSON, "vxm_engine_health_json"})
}

func engineHealthJSON(h engineHandle) (string, error) {
	var s, e unsafe.Pointer
	if st := vxmEngineHealthJSON(h, &s, &e); Status(st) != StatusOK {
		return "", takeError(st, e)
	}
	defer vxmStringFree(s)
	return cString(s), nil
}
