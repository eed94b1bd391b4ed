//go:build !unix

package velox

import "errors"

// dupCloexec: artifacts are file descriptors, which only unix systems hand out; no
// backend that can load the library is built for other systems (engine_unsupported.go).
func dupCloexec(int) (int, error) {
	return -1, errors.ErrUnsupported
}
