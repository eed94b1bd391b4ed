// Command rr is a minimal RoadRunner: the plugins RoadRunner v2025.1.15 ships that the
// tests need (config, logger, server, rpc, metrics, http, gzip, and informer, resetter and
// status, which Velox always adds) plus velox, wired on endure the way RoadRunner's own
// `serve` command does. RoadRunner's cmd lives on internal packages and its module is not
// on the Go module proxy, so the end-to-end tests build this instead.
//
//	rr serve [-c .rr.yaml] [-w dir] [-o key=value]...
//	rr reset [-c .rr.yaml] [-o key=value]... [plugin]...
//	rr --version
//
// As RoadRunner does, `serve` and `reset` change into the configuration file's directory
// (or into -w when given), so relative paths in .rr.yaml mean the same as in production.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// version is the RoadRunner release whose plugin set this binary mirrors; the config
// plugin checks `.rr.yaml` against it.
const version = "2025.1.15"

// overrides collects repeated -o key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

const usage = "usage: rr serve [-c .rr.yaml] [-w dir] [-o key=value]... | rr reset [-c .rr.yaml] [plugin]... | rr --version"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--version" || os.Args[1] == "-v" || os.Args[1] == "version") {
		fmt.Printf("rr version %s (velox-middleware e2e build, plugins: %s)\n", version, strings.Join(pluginNames(), ", "))
		return
	}
	if len(os.Args) < 2 || (os.Args[1] != "serve" && os.Args[1] != "reset") {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	cfgFile := fs.String("c", ".rr.yaml", "configuration file")
	workDir := fs.String("w", "", "working directory (default: the configuration file's directory)")
	var flags overrides
	fs.Var(&flags, "o", "override a configuration key: -o http.address=127.0.0.1:8080 (repeatable)")
	_ = fs.Parse(os.Args[2:])

	cfgPath, err := enterWorkDir(*cfgFile, *workDir)
	if err == nil {
		if cmd == "serve" {
			err = serve(cfgPath, flags)
		} else {
			err = reset(cfgPath, flags, fs.Args())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rr:", err)
		os.Exit(1)
	}
}

// enterWorkDir does what RoadRunner's root command does before any subcommand
// (internal/cli/root.go): change into -w if given; make the configuration path
// absolute; without -w, change into the configuration file's directory.
func enterWorkDir(cfgFile, workDir string) (string, error) {
	if cfgFile == "" {
		return "", fmt.Errorf("no configuration file provided")
	}
	if workDir != "" {
		if err := os.Chdir(workDir); err != nil {
			return "", err
		}
	}
	abs, err := filepath.Abs(cfgFile)
	if err != nil {
		return cfgFile, nil
	}
	if workDir == "" {
		if err := os.Chdir(filepath.Dir(abs)); err != nil {
			return "", err
		}
	}
	return abs, nil
}
