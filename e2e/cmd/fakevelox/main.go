// Command fakevelox runs the Velox-compatible fake build server on its own, for manual
// runs and the demo. It prints the build URL, the control URL and the output directory,
// then serves until SIGINT/SIGTERM. Switch fault modes with
//
//	curl -d '{"kind":"slow","delay":"5s"}' $CONTROL/_control
//	curl $CONTROL/_stats
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	velox "github.com/velox-middleware/go-shim"
	"github.com/velox-middleware/go-shim/tests/fakevelox"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address of the build endpoint")
	out := flag.String("out", "", "directory for built files (default: a new temp dir)")
	size := flag.Int("size", 4096, "size of each built file in bytes")
	flag.Parse()
	// Builds are named with the library's key: it loads libvelox_middleware.so from
	// $VELOX_MIDDLEWARE_LIB or next to this binary.
	fakevelox.SetRequestKey(velox.RequestKey)
	if err := velox.LoadLibrary(""); err != nil {
		fmt.Fprintln(os.Stderr, "fakevelox:", err)
		os.Exit(1)
	}

	s, err := fakevelox.Start(fakevelox.Options{Addr: *addr, OutputDir: *out, Size: *size})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakevelox:", err)
		os.Exit(1)
	}
	fmt.Printf("server_url=%s\ncontrol_url=%s\noutput_dir=%s\n", s.URL, s.ControlURL, s.OutputDir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
}
