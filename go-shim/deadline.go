package velox

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// RoadRunner's http plugin serves with a fixed WriteTimeout of 5 minutes and no key to
// change it. net/http arms that deadline when it reads the request headers, so it runs
// while the binary is being built: every write of a response that is ready after 5
// minutes fails, the client sees an empty reply, and a 504 for build_timeout >= 5m
// never arrives. (Its ReadTimeout does not matter here: net/http clears the read
// deadline itself once the request body has been read.)
//
// So once a response is known to be a build, the write deadline is lifted: the build is
// bounded by build_timeout inside the library, and a client that goes away is still
// noticed and cancels it. When the binary (or the error) is ready, the deadline is armed
// again for the answer alone: the server's own WriteTimeout counted from then, or longer
// for a binary that needs it at minStreamRate. A server without WriteTimeout gets none.

// minStreamRate is the slowest client a binary's download is sized for: a 100 MB binary
// gets 26 minutes rather than 5.
const minStreamRate = 64 << 10 // bytes per second

// liftDeadline clears the connection's write deadline for the time of the build. A
// writer that cannot (not net/http's, or a wrapper without Unwrap) is left as it is,
// with a warning once: the build still runs, as without this.
func (p *Plugin) liftDeadline(w http.ResponseWriter) {
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		p.deadlineWarning.Do(func() {
			p.log.Warn("cannot lift the connection's write deadline during builds; builds longer than the "+
				"http server's WriteTimeout will not reach the client", zap.Error(err))
		})
	}
}

// answerDeadline arms the write deadline for sending size bytes (0 for an error body).
func answerDeadline(w http.ResponseWriter, r *http.Request, size int64) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.WriteTimeout <= 0 {
		return
	}
	budget := max(srv.WriteTimeout, time.Duration(size/minStreamRate)*time.Second)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(budget))
}
