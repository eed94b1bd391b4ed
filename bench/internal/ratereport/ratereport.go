// Package ratereport is the line bench/cmd/fixedrate prints and bench/cmd/benchrun reads:
// one shape in one place, so the two cannot drift apart.
package ratereport

// Prefix starts the one line of a fixed-rate run's report; JSON of a Report follows it.
const Prefix = "FIXEDRATE "

// Report is what a fixed-rate run measured: latencies in microseconds from each request's
// scheduled send time.
type Report struct {
	Scheduled int     `json:"scheduled"`
	Completed int     `json:"completed"`
	Errors    int     `json:"errors"`
	Timeouts  int     `json:"timeouts"`
	Achieved  float64 `json:"achieved_rate"`
	P50Us     float64 `json:"p50_us"`
	P90Us     float64 `json:"p90_us"`
	P99Us     float64 `json:"p99_us"`
	MaxUs     float64 `json:"max_us"`
	// SendLagP99Us: how late the generator itself sent (scheduled → sent), p99. A large value
	// means the client, not the server, was short of CPU or of in-flight slots.
	SendLagP99Us float64 `json:"send_lag_p99_us"`
	FirstError   string  `json:"first_error,omitempty"`
}
