module github.com/velox-middleware/bench

go 1.26

require github.com/velox-middleware/go-shim v0.0.0-00010101000000-000000000000

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/ebitengine/purego v0.11.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/prometheus/client_golang v1.23.2 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	github.com/roadrunner-server/api/v4 v4.23.0 // indirect
	github.com/roadrunner-server/errors v1.4.1 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.27.1 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/sys v0.37.0 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)

replace github.com/velox-middleware/go-shim => ../go-shim

// The fake Velox: go-shim's test-only module, outside go-shim's own module graph.
require github.com/velox-middleware/go-shim/tests v0.0.0-00010101000000-000000000000

replace github.com/velox-middleware/go-shim/tests => ../go-shim/tests
