//go:build cgo && velox_cgo

package velox

// The cgo binding of vxm_engine_health_json (health.go). The include path and the
// library come from engine_cgo.go's #cgo lines, which apply to the whole package.

/*
#include "velox_middleware.h"
*/
import "C"

func engineHealthJSON(h engineHandle) (string, error) {
	var s *C.char
	var e *C.vxm_error
	if st := C.vxm_engine_health_json(h, &s, &e); st != C.VXM_STATUS_OK {
		return "", takeError(st, e)
	}
	defer C.vxm_string_free(s)
	return C.GoString(s), nil
}
