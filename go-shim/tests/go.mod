module github.com/velox-middleware/go-shim/tests

go 1.26
