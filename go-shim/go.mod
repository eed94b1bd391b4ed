module github.com/velox-middleware/go-shim

go 1.26

require (
	github.com/ebitengine/purego v0.11.3
	github.com/roadrunner-server/errors v1.4.1
	go.uber.org/zap v1.27.1
)

require go.uber.org/multierr v1.10.0 // indirect
