package fakevelox

import "time"

// Call is one Build call as the server saw it.
type Call struct {
	Seq int `json:"seq"`
	// Body is the raw request body.
	Body []byte `json:"body"`
	// Key is the seed-formula key of the request (empty when the body did not parse).
	Key       string    `json:"key,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// TimeoutMs is the Connect-Timeout-Ms header (0 when absent).
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
	// Status is the HTTP status answered (0 when nothing was written).
	Status int `json:"status"`
	// Code is the Connect error code answered, if any.
	Code string `json:"code,omitempty"`
	// Cancelled is true when the client went away before the answer.
	Cancelled bool `json:"cancelled"`
	// Path is the file a successful build answered.
	Path string `json:"path,omitempty"`
}

// Stats are the server's counters.
type Stats struct {
	// Calls counts every Build call, including refused and duplicate ones.
	Calls int `json:"calls"`
	// Builds counts calls answered 200.
	Builds int `json:"builds"`
	// Cancelled counts calls whose client went away before the answer.
	Cancelled int `json:"cancelled"`
	// Conflicts counts 409 answers.
	Conflicts int `json:"conflicts"`
	// Errors counts non-200 answers other than 409.
	Errors int `json:"errors"`
	// InFlight is the number of calls being handled now; MaxInFlight its peak.
	InFlight    int `json:"in_flight"`
	MaxInFlight int `json:"max_in_flight"`
	// Building is the number of accepted calls (valid, not duplicate) still running.
	Building int `json:"building"`
}

func (st *Stats) record(c *Call) {
	switch {
	case c.Cancelled:
		st.Cancelled++
	case c.Status == 200:
		st.Builds++
	case c.Status == 409:
		st.Conflicts++
	default:
		st.Errors++
	}
}
