package waitq

import "sync"

// WaitNoCtx is Wait for a waiter that cannot be cancelled (a plain Lock):
// it releases mu and blocks on w's channel alone. A single-channel receive
// is cheaper than Wait's two-case select, and a lock's uncancellable slow
// path parks on every contended acquisition of a FIFO lock.
//
// Added by package mutex in a file of its own (the rest of waitq is shared
// and unchanged).
func (q *Queue) WaitNoCtx(mu sync.Locker, w *Waiter) {
	mu.Unlock()
	<-w.ready
}
