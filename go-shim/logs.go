package velox

import "go.uber.org/zap"

// logDrain forwards the library's log records to RoadRunner's logger.
// TODO(logs): the library's log queue (vxm_log_next) is not in the ABI yet.
type logDrain struct {
	log *zap.Logger
}

func startLogDrain(log *zap.Logger) *logDrain {
	return &logDrain{log: log}
}

// stop is safe on a nil drain and more than once.
func (d *logDrain) stop() {}
