// Command rr-static is the benchmarks' baseline RoadRunner: the same plugin set and
// wiring as e2e/cmd/rr, with RoadRunner's own `static` plugin (which serves files with
// http.ServeContent) in place of velox. The seed plugin is not on the Go module proxy,
// so this is the strongest baseline built the same way (see BENCHMARKS.md).
//
//	rr-static serve -c .rr.yaml
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	configPlugin "github.com/roadrunner-server/config/v5"
	"github.com/roadrunner-server/endure/v2"
	gzipPlugin "github.com/roadrunner-server/gzip/v5"
	httpPlugin "github.com/roadrunner-server/http/v5"
	"github.com/roadrunner-server/logger/v5"
	"github.com/roadrunner-server/metrics/v5"
	"github.com/roadrunner-server/rpc/v5"
	"github.com/roadrunner-server/server/v5"
	"github.com/roadrunner-server/static/v5"
)

// version must match e2e/cmd/rr so that both read the same `.rr.yaml` format.
const version = "2025.1.15"

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: rr-static serve -c .rr.yaml")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfgFile := fs.String("c", ".rr.yaml", "configuration file")
	_ = fs.Parse(os.Args[2:])
	if err := serve(*cfgFile); err != nil {
		fmt.Fprintln(os.Stderr, "rr-static:", err)
		os.Exit(1)
	}
}

func serve(cfgFile string) error {
	const grace = 10 * time.Second
	cont := endure.New(slog.LevelError, endure.GracefulShutdownTimeout(grace))
	err := cont.RegisterAll(
		&configPlugin.Plugin{Path: cfgFile, Timeout: grace, Version: version},
		&logger.Plugin{},
		&server.Plugin{},
		&rpc.Plugin{},
		&metrics.Plugin{},
		&httpPlugin.Plugin{},
		&gzipPlugin.Plugin{},
		&static.Plugin{},
	)
	if err != nil {
		return err
	}
	if err := cont.Init(); err != nil {
		return err
	}
	errCh, err := cont.Serve()
	if err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	fmt.Printf("[INFO] RoadRunner server started; version: %s\n", version)
	select {
	case e := <-errCh:
		_ = cont.Stop()
		return fmt.Errorf("%w (plugin: %s)", e.Error, e.VertexID)
	case <-signals:
	}
	return cont.Stop()
}
