package ringbuf

// Parked reports how many goroutines are parked in Push or Pop.
func (q *MPMC[T]) Parked() int { return int(q.w.parked.Load()) }

// Parked reports how many goroutines are parked in Push or Pop.
func (q *SPSC[T]) Parked() int { return int(q.w.parked.Load()) }
