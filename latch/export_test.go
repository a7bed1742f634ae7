package latch

// Internals for the tests in package latch_test.

// DoneInTwo runs Done's first half (the look at the count, and the channel
// it makes while the count is above zero) and returns its second half, for
// tests that put other steps between the two.
func (l *Latch) DoneInTwo() (finish func() <-chan struct{}) {
	if l.count.Load() <= 0 {
		return l.Done
	}
	c := make(chan struct{})
	return func() <-chan struct{} {
		if l.done.CompareAndSwap(nil, &c) {
			return c
		}
		return *l.done.Load()
	}
}

// CountDownInTwo runs the first half of the CountDown that opens l (the
// add that takes the count to zero) and returns the second (open). The
// count must be 1.
func (l *Latch) CountDownInTwo() (open func()) {
	if l.count.Add(-1) != 0 {
		panic("latch: CountDownInTwo needs a count of 1")
	}
	return l.open
}
