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

// Freeze takes the semaphore's mutex and freezes its word, as a slow path
// deciding, so that every Acquire waits for the mutex; the returned func
// publishes the word unchanged and lets go.
func (s *Weighted) Freeze() (release func()) {
	s.mu.Lock()
	a := s.freeze()
	return func() {
		s.publish(a, s.q.Len())
		s.mu.Unlock()
	}
}
