module github.com/velox-middleware/bench

go 1.26

require github.com/velox-middleware/go-shim/tests v0.0.0-00010101000000-000000000000

replace (
	github.com/velox-middleware/go-shim => ../go-shim
	github.com/velox-middleware/go-shim/tests => ../go-shim/tests
)
