package ringbuf

// Parked reports how many goroutines are parked in Push or Pop.
func (q *MPMC[T]) Parked() int { return int(q.w.parked.Load()) }

// Parked reports how many goroutines are parked in Push or Pop.
func (q *SPSC[T]) Parked() int { return int(q.w.parked.Load()) }

// SetAwaitHook makes f run whenever a batch is about to wait for a slot
// that another operation has claimed and not yet published, until the
// returned function restores the previous hook.
func SetAwaitHook(f func()) (restore func()) {
	old := awaitHook
	awaitHook = f
	return func() { awaitHook = old }
}
