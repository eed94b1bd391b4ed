package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	configPlugin "github.com/roadrunner-server/config/v5"
	"github.com/roadrunner-server/endure/v2"
)

// serve runs the container until a plugin fails or a signal arrives, like RoadRunner's
// `serve` (internal/cli/serve/command.go), with two differences an operator notices:
// the "started" banner waits until serving has really begun (started.go), and stopping
// says what it does and when it is done.
func serve(cfgFile string, flags []string) error {
	cc, err := readContainerConfig(cfgFile)
	if err != nil {
		return err
	}
	level, err := cc.logLevel()
	if err != nil {
		fmt.Printf("[WARN] Failed to parse log level, using default (error): %v\n", err)
	}
	cfg := &configPlugin.Plugin{
		Path:    cfgFile,
		Timeout: cc.GracePeriod,
		Flags:   flags,
		Version: version,
	}
	cont := endure.New(level, endure.GracefulShutdownTimeout(cc.GracePeriod))
	if err := cont.RegisterAll(append(plugins(), cfg)...); err != nil {
		return err
	}
	if err := cont.Init(); err != nil {
		return err
	}
	// Before Serve, so that a Ctrl-C during start-up stops the container too.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)

	errCh, err := cont.Serve()
	if err != nil {
		return err
	}
	failed := func(e *endure.Result) error {
		_ = cont.Stop()
		return fmt.Errorf("%w (plugin: %s)", e.Error, e.VertexID)
	}

	switch e, sig := waitStarted(cfg, errCh, signals); {
	case e != nil:
		return failed(e)
	case sig:
		return stop(cont, cc, signals)
	}
	fmt.Printf("[INFO] RoadRunner server started; version: %s\n", version)

	select {
	case e := <-errCh:
		return failed(e)
	case <-signals:
		return stop(cont, cc, signals)
	}
}

// stop stops every plugin at once; endure gives them grace_period in total. The http
// plugin closes its connections at once (downloads in progress are cut) and its worker
// pool stops the PHP workers; velox cancels or finishes its builds (README "Shutdown").
func stop(cont *endure.Endure, cc *containerConfig, signals <-chan os.Signal) error {
	// The worker pools then log "destroy signal received {"timeout": "1m0s"}": that is
	// their pool.destroy_timeout, but endure stops waiting for every plugin after
	// grace_period, so this line says what bounds the stop.
	fmt.Printf("[INFO] stop signal received, stopping every plugin within endure.grace_period (%s); a second signal exits at once\n", cc.GracePeriod)
	// A second signal while stopping exits at once, as RoadRunner does.
	go func() {
		<-signals
		fmt.Println("exit forced")
		os.Exit(1)
	}()
	if err := cont.Stop(); err != nil {
		fmt.Printf("[WARN] RoadRunner server stopped with an error: %v\n", err)
		return err
	}
	fmt.Println("[INFO] RoadRunner server stopped")
	return nil
}
