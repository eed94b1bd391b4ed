package main

import (
	"fmt"
	"strings"
	"testing"
)

// The report's section heads are read by people and diffed between runs: the text must
// stay exactly what the sections wrote before they shared section().
func TestSectionHeadAndItsNothingMeasuredLine(t *testing.T) {
	var out strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }
	if section(p, "Streaming and HTTP semantics", false, "Not measured in this run.") {
		t.Fatal("an unmeasured section must tell its caller to stop")
	}
	if got, want := out.String(), "## Streaming and HTTP semantics\n\nNot measured in this run.\n\n"; got != want {
		t.Fatalf("unmeasured section wrote %q, want %q", got, want)
	}
	out.Reset()
	if !section(p, "100% of it", true, "unused") {
		t.Fatal("a measured section must go on")
	}
	if got, want := out.String(), "## 100% of it\n\n"; got != want {
		t.Fatalf("measured section wrote %q, want %q", got, want)
	}
}
