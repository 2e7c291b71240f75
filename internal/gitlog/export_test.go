package gitlog

import "time"

// SetStallTimeout sets how long a connection may stall, for a test; it
// returns the function that puts it back.
func SetStallTimeout(d time.Duration) func() {
	old := stallTimeout.Swap(int64(d))
	return func() { stallTimeout.Store(old) }
}
