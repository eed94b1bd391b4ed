package velox

import (
	"context"
	"time"
)

// drainMargin is kept from the graceful time for freeing the engine after a drain.
const drainMargin = 500 * time.Millisecond

// drainWithoutDeadline bounds a drain when Stop's context has no deadline.
const drainWithoutDeadline = 10 * time.Second

// Drain gives builds in flight the graceful time left in ctx to finish into the cache
// when the library is configured to keep abandoned builds (`keep_abandoned_builds`);
// otherwise it returns at once and Close cancels them. It returns the builds still in
// flight.
func (e *Engine) Drain(ctx context.Context) (uint64, error) {
	if err := e.enter(); err != nil {
		return 0, err
	}
	defer e.calls.Done()
	timeout := drainWithoutDeadline
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(deadline)-drainMargin, 0)
	}
	return engineDrain(e.h, uint64(timeout.Milliseconds()))
}
