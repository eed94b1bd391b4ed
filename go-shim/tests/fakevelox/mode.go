package fakevelox

import (
	"encoding/json"
	"time"
)

// Kind selects how the server answers Build calls.
type Kind string

const (
	// Normal builds (after Mode.Delay) and answers 200.
	Normal Kind = ""
	// Slow is Normal with a Delay; the name only helps readers of tests and control calls.
	Slow Kind = "slow"
	// Down closes the listener (connections are refused) and drops requests that arrive
	// on connections already open.
	Down Kind = "down"
	// Fail answers Mode.Status, with a Connect error body when Mode.Code is set and an
	// empty body otherwise.
	Fail Kind = "fail"
	// Conflict answers 409 already_exists, as Velox does for a duplicate in flight.
	Conflict Kind = "conflict"
	// Hang never answers; the call ends when the client goes away or the server closes.
	Hang Kind = "hang"
	// Internal answers 500 internal, what Velox says for a failed compile.
	Internal Kind = "internal"
	// Released builds like Normal but as a released Velox (v2025.1.x) does: the request's
	// replaces, excludes, race and debug are dropped before the build, so the binary has
	// none of them.
	Released Kind = "released"
)

// Mode is the server's behaviour for the next calls. It can be changed at any time with
// SetMode or POST /_control (the same fields as JSON, delay as a Go duration string).
type Mode struct {
	Kind Kind `json:"kind"`
	// Delay before answering (any kind but Down and Hang): how long a "build" takes.
	Delay time.Duration `json:"-"`
	// Status for Fail (default 503).
	Status int `json:"status,omitempty"`
	// Code is the Connect error code for Fail; empty means a bare status without a body.
	Code string `json:"code,omitempty"`
	// Message of the error body (a default is used when empty).
	Message string `json:"message,omitempty"`
	// Count limits the mode to the next Count calls, after which the server returns to
	// Normal (keeping Delay). Zero means until changed. Ignored for Down.
	Count int `json:"count,omitempty"`
	// Path, when set, is answered as the build's path instead of a file in OutputDir
	// (to test the client's path checks). The file is not written.
	Path string `json:"path,omitempty"`
	// Size of the file a successful build writes; zero keeps the server's current size.
	Size int `json:"size,omitempty"`
}

// MarshalJSON writes Delay as a Go duration string.
func (m Mode) MarshalJSON() ([]byte, error) {
	type plain Mode
	out := struct {
		plain
		Delay string `json:"delay,omitempty"`
	}{plain: plain(m)}
	if m.Delay > 0 {
		out.Delay = m.Delay.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads Delay as a Go duration string ("250ms", "2s").
func (m *Mode) UnmarshalJSON(data []byte) error {
	type plain Mode
	var in struct {
		plain
		Delay string `json:"delay"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*m = Mode(in.plain)
	if in.Delay != "" {
		d, err := time.ParseDuration(in.Delay)
		if err != nil {
			return err
		}
		m.Delay = d
	}
	return nil
}
