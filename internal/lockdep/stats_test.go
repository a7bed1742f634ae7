package lockdep

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// newLocks returns n distinct lock addresses.
func newLocks(n int) []unsafe.Pointer {
	ps := make([]unsafe.Pointer, n)
	for i := range ps {
		ps[i] = unsafe.Pointer(new(uint64))
	}
	return ps
}

// The table finds every watched lock and no other, through collisions and
// growth, and Active follows whether anything is watched.
func TestWatchTable(t *testing.T) {
	if Active() != Enabled {
		t.Fatal("Active with nothing watched")
	}
	ps := newLocks(300)
	for i, p := range ps[:200] {
		Watch(p, fmt.Sprint(i), "fake", "here")
	}
	if !Active() || FastFree() != ^uint32(0) {
		t.Fatal("not Active while locks are watched")
	}
	for i, p := range ps {
		c := lookup(p)
		if (c != nil) != (i < 200) || c != nil && c.name != fmt.Sprint(i) {
			t.Fatalf("lookup(lock %d) = %v", i, c)
		}
	}
	for _, p := range ps[:199] {
		if !Unwatch(p) {
			t.Fatal("Unwatch of a watched lock returned false")
		}
	}
	if lookup(ps[199]) == nil || lookup(ps[0]) != nil {
		t.Fatal("lookup wrong after Unwatch")
	}
	Unwatch(ps[199])
	if Active() != Enabled || FastFree() != 0 && !Enabled {
		t.Fatal("Active after everything was unwatched")
	}
}

// Top orders by total wait, then contended acquisitions, then name.
func TestTopOrder(t *testing.T) {
	ps := newLocks(4)
	for i, p := range ps {
		Watch(p, fmt.Sprint("l", i), "fake", "here")
		defer Unwatch(p)
	}
	set := func(i int, wait time.Duration, contended uint64) {
		c := lookup(ps[i])
		c.waitTotal.Store(int64(wait))
		c.contended.Store(contended)
	}
	set(0, time.Second, 1)
	set(1, 2*time.Second, 1)
	set(2, time.Second, 5)
	set(3, time.Second, 5)
	var names []string
	for _, s := range Top(-1) {
		names = append(names, s.Name)
	}
	if got := fmt.Sprint(names); got != "[l1 l2 l3 l0]" {
		t.Fatalf("Top order %s, want [l1 l2 l3 l0]", got)
	}
	if got := Top(2); len(got) != 2 || got[0].Name != "l1" {
		t.Fatalf("Top(2) = %v", got)
	}
}

// The counters' arithmetic: acquisitions, contention, waits, maximum.
func TestCounters(t *testing.T) {
	p := newLocks(1)[0]
	Watch(p, "c", "fake", "here")
	defer Unwatch(p)
	c := lookup(p)
	c.acquired(false, 0)
	c.acquired(true, now()-int64(3*time.Millisecond))
	c.canceled(true, now()-int64(5*time.Millisecond))
	c.canceled(false, 0) // gave up without waiting
	handoff(p)
	s, _ := Stats(p)
	if s.Acquisitions != 2 || s.Contended != 1 || s.Cancellations != 2 || s.Handoffs != 1 {
		t.Fatalf("counts %+v", s)
	}
	if s.TotalWait < 8*time.Millisecond || s.MaxWait < 5*time.Millisecond || s.MaxWait > s.TotalWait {
		t.Fatalf("waits: total %v, max %v; want >= 8ms and >= 5ms", s.TotalWait, s.MaxWait)
	}
}

// A snapshot never shows a longest wait above the total: each wait here is
// longer than all earlier ones together, so reading the total before a
// wait is added and the maximum after it would show exactly that.
func TestSnapshotMaxWaitWithinTotal(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	var cur atomic.Pointer[Counters]
	cur.Store(new(Counters))
	var done atomic.Bool
	go func() {
		defer done.Store(true)
		for range rounds {
			c := new(Counters)
			cur.Store(c)
			for d := int64(1); d < 1<<40; d <<= 1 {
				c.addWait(d)
			}
		}
	}()
	for !done.Load() {
		if s := cur.Load().snapshot(); s.MaxWait > s.TotalWait {
			t.Fatalf("snapshot: max wait %d above total %d", s.MaxWait, s.TotalWait)
		}
	}
}
