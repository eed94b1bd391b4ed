module github.com/velox-middleware/bench

go 1.26

require github.com/velox-middleware/go-shim v0.0.0-00010101000000-000000000000

replace github.com/velox-middleware/go-shim => ../go-shim

// The fake Velox: go-shim's test-only module, outside go-shim's own module graph.
require github.com/velox-middleware/go-shim/tests v0.0.0-00010101000000-000000000000

replace github.com/velox-middleware/go-shim/tests => ../go-shim/tests
