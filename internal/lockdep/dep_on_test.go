//go:build lockstep_debug

package lockdep

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// These tests drive the hooks directly, with fake locks (addresses of
// heap objects) whose state the checker does not look at, to pin down the
// rules for read locks, downgrades, cancellations and garbage collection.

type collector struct {
	mu  sync.Mutex
	all []*Report
}

func collect(t *testing.T) *collector {
	Reset()
	c := &collector{}
	SetHandler(func(r *Report) {
		c.mu.Lock()
		c.all = append(c.all, r)
		c.mu.Unlock()
	})
	t.Cleanup(func() { SetHandler(nil) })
	return c
}

func (c *collector) kinds() []Kind {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []Kind
	for _, r := range c.all {
		ks = append(ks, r.Kind)
	}
	return ks
}

func (c *collector) want(t *testing.T, ks ...Kind) *Report {
	t.Helper()
	got := c.kinds()
	if len(got) != len(ks) {
		for _, r := range c.all {
			t.Log(r)
		}
		t.Fatalf("reports %v, want %v", got, ks)
	}
	for i := range ks {
		if got[i] != ks[i] {
			t.Fatalf("reports %v, want %v", got, ks)
		}
	}
	if len(ks) == 0 {
		return nil
	}
	return c.all[len(c.all)-1]
}

var rwType = Type{Name: "fake.RW"}

func fakeLock() unsafe.Pointer { return unsafe.Pointer(new([64]byte)) }

func lock(p unsafe.Pointer, m Mode) {
	t := Acquire(p, &rwType, m)
	t.Acquired()
}

func unlock(p unsafe.Pointer, m Mode) { Release(p, &rwType, m) }

func inGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// A read lock held by many goroutines at once, each nesting the same write
// lock inside it, is no recursion and no inversion.
func TestReadSharedAcrossGoroutines(t *testing.T) {
	c := collect(t)
	r, w := fakeLock(), fakeLock()
	const n = 8
	var all, done sync.WaitGroup
	all.Add(n)
	for range n {
		done.Go(func() {
			lock(r, Read)
			all.Done()
			all.Wait() // every goroutine holds r for reading now
			lock(w, Write)
			unlock(w, Write)
			lock(r, Read) // a second read hold: recursion, by this goroutine only
			unlock(r, Read)
			unlock(r, Read)
		})
	}
	done.Wait()
	for _, k := range c.kinds() {
		if k != Recursion {
			t.Fatalf("reports %v, want only the recursive read lock", c.kinds())
		}
	}
	rep := c.all[0]
	if len(c.all) != 1 || !strings.Contains(rep.Message, "writer") {
		t.Fatalf("want one recursion report explaining the queued writer, got %d:\n%v", len(c.all), rep)
	}
}

// Read-read inversions are reported: a queued writer on each lock blocks
// the second reader of each.
func TestReadReadInversion(t *testing.T) {
	c := collect(t)
	a, b := fakeLock(), fakeLock()
	inGoroutine(func() {
		lock(a, Read)
		lock(b, Read)
		unlock(b, Read)
		unlock(a, Read)
	})
	c.want(t)
	inGoroutine(func() {
		lock(b, Read)
		lock(a, Read)
		unlock(a, Read)
		unlock(b, Read)
	})
	c.want(t, Inversion)
}

// Downgrade turns the write hold into a read hold: a further read lock by
// the same goroutine is the read-read recursion, and RUnlock releases it.
func TestDowngrade(t *testing.T) {
	c := collect(t)
	l := fakeLock()
	inGoroutine(func() {
		lock(l, Write)
		Downgrade(l)
		lock(l, Read)
		unlock(l, Read)
		unlock(l, Read)
	})
	rep := c.want(t, Recursion)
	if !strings.Contains(rep.Message, "already holds for read") {
		t.Fatalf("recursion not seen as read under read:\n%s", rep)
	}
	inGoroutine(func() { lock(l, Write) }) // no hold left: no report
	c.want(t, Recursion)
}

// A foreign RUnlock is reported for owned lock types and moves the hold;
// an Unowned lock type is never reported.
func TestForeignRelease(t *testing.T) {
	c := collect(t)
	l := fakeLock()
	inGoroutine(func() { lock(l, Read) })
	unlock(l, Read)
	c.want(t, UnlockNotHeld)
	lock(l, Read) // the hold moved away from the first goroutine: no recursion
	unlock(l, Read)
	c.want(t, UnlockNotHeld)

	sem := Type{Name: "fake.Semaphore", Unowned: true}
	s := fakeLock()
	inGoroutine(func() {
		k := Acquire(s, &sem, Write)
		k.Acquired()
	})
	Release(s, &sem, Write)
	c.want(t, UnlockNotHeld)
}

// A cancelled acquisition leaves no hold, and keeps its edge: the order was
// attempted and will block another day.
func TestCanceledKeepsEdge(t *testing.T) {
	c := collect(t)
	a, b := fakeLock(), fakeLock()
	inGoroutine(func() {
		lock(a, Write)
		k := Acquire(b, &rwType, Write)
		k.Wait()
		k.Canceled()
		lock(b, Write) // not held after the cancellation: no recursion
		unlock(b, Write)
		unlock(a, Write)
	})
	c.want(t)
	inGoroutine(func() {
		lock(b, Write)
		lock(a, Write)
	})
	c.want(t, Inversion)
}

// Records of collected locks are swept, with the edges into them.
func TestSweep(t *testing.T) {
	collect(t)
	hub := fakeLock()
	func() {
		// No collection meanwhile: a sweep during the loop (every 1024
		// new locks) would already drop the locks collected so far.
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		for range 3000 {
			l := fakeLock()
			lock(hub, Write)
			lock(l, Write) // edge hub -> l
			unlock(l, Write)
			unlock(hub, Write)
		}
	}()
	mu.Lock()
	hubClass := locks[uintptr(hub)].cls
	before, edges := len(locks), len(hubClass.out)
	mu.Unlock()
	if edges < 3000 {
		t.Fatalf("hub has %d edges, want 3000", edges)
	}
	for range 3 {
		runtime.GC()
	}
	mu.Lock()
	sweep()
	after, edgesAfter := len(locks), len(hubClass.out)
	mu.Unlock()
	if after >= before/2 || edgesAfter >= edges/2 {
		t.Fatalf("sweep kept %d of %d locks and %d of %d edges", after, before, edgesAfter, edges)
	}
	runtime.KeepAlive(hub)
}

// SetName after a lock was used moves it to the named class; the order
// recorded under its old class stays there (SetName's documented
// limitation), and cycle searches through edges recorded before and after
// the move terminate.
func TestRenameAfterUse(t *testing.T) {
	c := collect(t)
	a, b, x := fakeLock(), fakeLock(), fakeLock()
	inGoroutine(func() {
		lock(a, Write)
		lock(b, Write) // old class of a -> b
		unlock(b, Write)
		unlock(a, Write)
	})
	SetName(a, "renamed")
	SetName(x, "renamed")
	inGoroutine(func() {
		lock(b, Write)
		lock(x, Write) // b -> "renamed"
		unlock(x, Write)
		unlock(b, Write)
	})
	c.want(t)
	inGoroutine(func() {
		lock(a, Write)
		lock(b, Write) // "renamed" -> b closes the cycle
		unlock(b, Write)
		unlock(a, Write)
	})
	c.want(t, Inversion)
}
