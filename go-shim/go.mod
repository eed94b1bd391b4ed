module github.com/velox-middleware/go-shim

go 1.26
