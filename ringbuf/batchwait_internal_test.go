package ringbuf

import (
	"slices"
	"sync"
	"testing"
)

// setAwaitHook installs f as the await hook until the test ends.
func setAwaitHook(t *testing.T, f func()) {
	old := awaitHook
	awaitHook = f
	t.Cleanup(func() { awaitHook = old })
}

// waitSignal returns a hook that closes the returned channel the first
// time a batch starts to wait.
func waitSignal(t *testing.T) <-chan struct{} {
	waiting := make(chan struct{})
	var once sync.Once
	setAwaitHook(t, func() { once.Do(func() { close(waiting) }) })
	return waiting
}

// TryPushN claims room by count, so it can claim a slot whose pop has
// claimed it (moved head) and not yet read the item. It must wait for that
// pop's release, not overwrite the unread item.
func TestMPMCPushNWaitsForAClaimedPop(t *testing.T) {
	q := NewMPMC[int](4)
	for v := 1; v <= 4; v++ {
		q.TryPush(v)
	}
	// A pop of item 1, stopped between its claim and its read (as pop does
	// it, by hand).
	head := q.head.Load()
	if !q.head.CompareAndSwap(head, q.next(head)) {
		t.Fatal("claiming the front slot failed")
	}
	waiting := waitSignal(t)
	done := make(chan int)
	go func() { done <- q.TryPushN([]int{9, 10}) }()
	select {
	case n := <-done:
		t.Fatalf("TryPushN returned %d while a slot it claimed still held an unread item", n)
	case <-waiting:
	}
	s := &q.slots[head&q.mask]
	if s.val != 1 {
		t.Fatalf("the claimed pop's slot holds %d before the pop read it, want 1", s.val)
	}
	s.val = 0
	s.stamp.Store(head + q.oneLap) // the pop's release
	if n := <-done; n != 1 {
		t.Fatalf("TryPushN = %d, want 1 (one slot of room)", n)
	}
	var got []int
	for v, ok := q.TryPop(); ok; v, ok = q.TryPop() {
		got = append(got, v)
	}
	if want := []int{2, 3, 4, 9}; !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
}

// TryPopN claims items by count, so it can claim a slot whose push has
// claimed it (moved tail) and not yet stored the item. It must wait for
// that push's publish, not return what the slot held before (nor stop
// short: its count included the item).
func TestMPMCPopNWaitsForAClaimedPush(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() *MPMC[*int] // pointer items: the slots are zeroed
	}{
		{"fresh", func() *MPMC[*int] { return NewMPMC[*int](4) }},
		{"wrapped", func() *MPMC[*int] {
			q := NewMPMC[*int](4)
			for range 3 {
				q.TryPush(new(int))
				q.TryPop()
			}
			return q
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.new()
			one, two := 1, 2
			q.TryPush(&one)
			// A push stopped between its claim and its store.
			tail := q.tail.Load()
			if !q.tail.CompareAndSwap(tail, q.next(tail)) {
				t.Fatal("claiming the next slot failed")
			}
			waiting := waitSignal(t)
			done := make(chan []*int)
			go func() {
				dst := make([]*int, 4)
				done <- dst[:q.TryPopN(dst)]
			}()
			select {
			case got := <-done:
				t.Fatalf("TryPopN returned %d items before the claimed push stored its item", len(got))
			case <-waiting:
			}
			s := &q.slots[tail&q.mask]
			s.val = &two
			s.stamp.Store(tail + 1) // the push's publish
			got := <-done
			if len(got) != 2 || got[0] != &one || got[1] != &two {
				t.Fatalf("TryPopN = %v, want [&1 &2]", got)
			}
			for i := range q.slots {
				if q.slots[i].val != nil {
					t.Fatalf("slot %d still references an item after the queue was drained", i)
				}
			}
		})
	}
}
