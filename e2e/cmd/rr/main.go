// Command rr is a minimal RoadRunner: the config, logger, server, http, gzip, rpc and
// metrics plugins plus velox, wired on endure the way RoadRunner's own `serve` command does.
// RoadRunner's cmd lives on internal packages and its module is not on the Go module
// proxy, so the end-to-end tests build this instead.
//
//	rr serve -c .rr.yaml [-o key=value]...
//	rr --version
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
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
)

// version is the RoadRunner release whose plugin set this binary mirrors; the config
// plugin checks `.rr.yaml` against it.
const version = "2025.1.15"

// overrides collects repeated -o key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-v" || os.Args[1] == "version") {
		fmt.Printf("rr version %s (velox-middleware e2e build, plugins: %s)\n", version, strings.Join(pluginNames(), ", "))
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: rr serve -c .rr.yaml [-o key=value]... | rr --version")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfgFile := fs.String("c", ".rr.yaml", "configuration file")
	workDir := fs.String("w", "", "working directory")
	grace := fs.Duration("grace", 30*time.Second, "graceful shutdown timeout")
	var flags overrides
	fs.Var(&flags, "o", "override a configuration key: -o http.address=127.0.0.1:8080 (repeatable)")
	_ = fs.Parse(os.Args[2:])
	if *workDir != "" {
		if err := os.Chdir(*workDir); err != nil {
			fmt.Fprintln(os.Stderr, "rr:", err)
			os.Exit(1)
		}
	}
	if err := serve(*cfgFile, flags, *grace); err != nil {
		fmt.Fprintln(os.Stderr, "rr:", err)
		os.Exit(1)
	}
}

func serve(cfgFile string, flags []string, grace time.Duration) error {
	cfg := &configPlugin.Plugin{
		Path:    cfgFile,
		Timeout: grace,
		Flags:   flags,
		Version: version,
	}
	cont := endure.New(slog.LevelError, endure.GracefulShutdownTimeout(grace))
	if err := cont.RegisterAll(append(plugins(), cfg)...); err != nil {
		return err
	}
	if err := cont.Init(); err != nil {
		return err
	}
	errCh, err := cont.Serve()
	if err != nil {
		return err
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	fmt.Printf("[INFO] RoadRunner server started; version: %s\n", version)

	select {
	case e := <-errCh:
		_ = cont.Stop()
		return fmt.Errorf("%w (plugin: %s)", e.Error, e.VertexID)
	case <-signals:
	}
	// A second signal while stopping exits at once, as RoadRunner does.
	go func() {
		<-signals
		fmt.Println("exit forced")
		os.Exit(1)
	}()
	return cont.Stop()
}

// plugins is everything but the config plugin, which serve builds from the flags.
func plugins() []any {
	return append([]any{
		&logger.Plugin{},
		&server.Plugin{},
		&rpc.Plugin{},
		&metrics.Plugin{},
		&httpPlugin.Plugin{},
		&gzipPlugin.Plugin{},
	}, extraPlugins()...)
}

func pluginNames() []string {
	names := []string{"config"}
	for _, p := range plugins() {
		if n, ok := p.(interface{ Name() string }); ok {
			names = append(names, n.Name())
		}
	}
	return names
}
