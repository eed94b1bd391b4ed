package main

import (
	"fmt"
	"net/http"
	"time"
)

// The original plugin ("seed"): github.com/roadrunner-plugins/velox-middleware, built from a
// source checkout into the same main as ours by scripts/build-rr-seed.sh (make bench
// SEED_SRC=...). It answers the same PHP worker, fake Velox server and .rr.yaml.

// isVelox: the servers that answer the PHP worker's /build route (ours and the seed).
func isVelox(name string) bool {
	return name == "velox-cgo" || name == "velox-purego" || name == "seed"
}

// warmSeed builds the binary once through the seed, waits for its cache to hold it (the seed
// stores in the background after answering and sends no cache header), and checks that a
// further GET reaches no upstream, so that load runs only measure its hits.
func (d *driver) warmSeed(u string, size int) error {
	check := func() error {
		status, n, body, err := get(u, 60*time.Second)
		if err != nil {
			return err
		}
		if status != http.StatusOK || n != int64(size) {
			return fmt.Errorf("GET %s: status %d, %d bytes (%q), want 200 and %d", u, status, n, body, size)
		}
		return nil
	}
	if err := check(); err != nil {
		return err
	}
	for i := 0; i < 50; i++ { // at most 10 s for the background store
		time.Sleep(200 * time.Millisecond)
		before := d.fake.Stats()
		if err := check(); err != nil {
			return err
		}
		if d.fake.Stats().Calls == before.Calls {
			return nil
		}
	}
	return fmt.Errorf("GET %s: still reaching the Velox server after 10 s of warming (no cache hit)", u)
}
