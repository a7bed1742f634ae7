package semaphore

import "context"

// SetEnqueueHook installs f to run under the semaphore's mutex right after
// an Acquire has queued a waiter, for as long as the test runs. The
// linearizability test uses it to time-stamp the moment a waiter joined.
// Tests that use it must not run in parallel with other tests.
func SetEnqueueHook(t interface{ Cleanup(func()) }, f func(ctx context.Context)) {
	enqueueHook = f
	t.Cleanup(func() { enqueueHook = nil })
}
