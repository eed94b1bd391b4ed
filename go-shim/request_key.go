package velox

// RequestKey is the cache key of a worker's build request (vxm_request_key): 64
// lowercase hex, the seed plugin's key for seed-format requests. A request the library
// refuses is an *Error with StatusInvalidRequest naming the field. It loads the library
// if needed (see LoadLibrary) and needs no engine.
func RequestKey(requestJSON []byte) (string, error) {
	if err := LoadLibrary(""); err != nil {
		return "", err
	}
	return requestKey(requestJSON)
}
