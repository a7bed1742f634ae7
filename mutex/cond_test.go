package mutex_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/mutex"
)

// The lockers a Cond is tested with: any sync.Locker must work.
var condLockers = []struct {
	name string
	new  func() sync.Locker
}{
	{"mutex.Mutex", func() sync.Locker { return new(mutex.Mutex) }},
	{"mutex.Fair", func() sync.Locker { return new(mutex.Fair) }},
	{"sync.Mutex", func() sync.Locker { return new(sync.Mutex) }},
	{"sync.RWMutex.RLocker", func() sync.Locker { return new(sync.RWMutex).RLocker() }},
}

// Signal wakes exactly one waiter, the one that has waited longest;
// Broadcast wakes all the rest. Every Wait returns holding L.
func TestCondSignalAndBroadcast(t *testing.T) {
	for _, lk := range condLockers {
		t.Run(lk.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 5
				c := mutex.NewCond(lk.new())
				var wokeMu sync.Mutex // L may be a read lock
				var woke []int
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						c.L.Lock()
						if err := c.Wait(context.Background()); err != nil {
							panic(err)
						}
						wokeMu.Lock()
						woke = append(woke, i)
						wokeMu.Unlock()
						c.L.Unlock()
					})
					synctest.Wait() // parked, in the order of i
				}
				if counted, queued := c.Waiters(); counted != n || queued != n {
					t.Fatalf("waiters: counted %d, queued %d, want %d", counted, queued, n)
				}
				c.Signal()
				synctest.Wait()
				c.Signal()
				synctest.Wait()
				wokeMu.Lock()
				if fmt.Sprint(woke) != "[0 1]" {
					t.Fatalf("after two Signals woke %v, want [0 1]", woke)
				}
				wokeMu.Unlock()
				c.Broadcast()
				wg.Wait()
				if len(woke) != n {
					t.Fatalf("after Broadcast woke %v", woke)
				}
				if counted, queued := c.Waiters(); counted != 0 || queued != 0 {
					t.Fatalf("waiters left: counted %d, queued %d", counted, queued)
				}
				c.Signal() // no waiters: no effect
				c.Broadcast()
			})
		})
	}
}

// A Wait whose deadline passes returns DeadlineExceeded at exactly the
// deadline (fake clock), holding L, and leaves no waiter behind.
func TestCondWaitDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		c := mutex.NewCond(&m)
		m.Lock()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := c.Wait(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("gave up after %v of fake time, want 5s", d)
		}
		if m.TryLock() {
			t.Fatal("Wait returned without re-locking L")
		}
		if counted, queued := c.Waiters(); counted != 0 || queued != 0 {
			t.Fatalf("timed-out waiter left behind: counted %d, queued %d", counted, queued)
		}
		m.Unlock()
	})
}

// While one waiter waits for its deadline, L is free for others: Wait
// really released it.
func TestCondWaitReleasesL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		c := mutex.NewCond(&m)
		done := make(chan error)
		go func() {
			m.Lock()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := c.Wait(ctx)
			m.Unlock()
			done <- err
		}()
		synctest.Wait()
		if !m.TryLock() {
			t.Fatal("L still held while its holder waits on the Cond")
		}
		// Holding L when the deadline passes: the waiter must wait for L
		// before it returns.
		time.Sleep(2 * time.Second)
		select {
		case <-done:
			t.Fatal("Wait returned while L was held by another goroutine")
		default:
		}
		m.Unlock()
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v", err)
		}
	})
}

// A done ctx fails Wait at once, without releasing L.
func TestCondWaitDoneContext(t *testing.T) {
	var m mutex.Mutex
	c := mutex.NewCond(&m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Lock()
	if err := c.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(done ctx) = %v", err)
	}
	if m.TryLock() {
		t.Fatal("Wait(done ctx) returned without L held")
	}
	if counted, queued := c.Waiters(); counted != 0 || queued != 0 {
		t.Fatalf("waiter left behind: counted %d, queued %d", counted, queued)
	}
	m.Unlock()
}

// Signal racing a waiter's cancellation: the signal is never lost. The
// front waiter W1 either returns nil (it consumed the signal) or returns its
// ctx error, and then the signal reached W2 behind it. W1 does not look at
// any condition, so only the Cond can pass the signal on.
func TestCondSignalVersusCancel(t *testing.T) {
	races := testutil.Scale(2000)
	consumed, passed := 0, 0
	synctest.Test(t, func(t *testing.T) {
		var m mutex.Mutex
		c := mutex.NewCond(&m)
		for i := range races {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w1 := make(chan error, 1)
			w2 := make(chan struct{})
			go func() {
				m.Lock()
				w1 <- c.Wait(ctx)
				m.Unlock()
			}()
			synctest.Wait()
			go func() {
				m.Lock()
				if err := c.Wait(context.Background()); err != nil {
					panic(err)
				}
				m.Unlock()
				close(w2)
			}()
			synctest.Wait()
			switch i % 3 {
			case 0:
				go cancel()
				c.Signal()
			case 1:
				go c.Signal()
				cancel()
			case 2:
				cancel()
				c.Signal()
			}
			synctest.Wait() // everyone returned or parked for good
			w2done := false
			select {
			case <-w2:
				w2done = true
			default:
			}
			if err := <-w1; err == nil {
				consumed++
				if w2done {
					t.Fatal("one Signal woke two waiters")
				}
				c.Signal() // release W2
				<-w2
			} else {
				passed++
				if !w2done {
					t.Fatal("lost wakeup: the front waiter gave up and the Signal did not reach the waiter behind it")
				}
			}
			if counted, queued := c.Waiters(); counted != 0 || queued != 0 {
				t.Fatalf("waiters left: counted %d, queued %d", counted, queued)
			}
		}
	})
	t.Logf("%d races: the cancelled waiter consumed the signal %d times, passed it on %d times", races, consumed, passed)
	if consumed+passed != races || consumed == 0 || passed == 0 {
		t.Fatalf("outcomes: consumed %d, passed %d, of %d races; want both, adding up", consumed, passed, races)
	}
}

// No lost wakeups under load: a bounded buffer with two Conds and Signal
// only (the form that loses a wakeup when registration is late), for each
// kind of Locker. Every item is received exactly once; a lost wakeup shows
// as a stuck goroutine caught by the watchdog.
func TestCondBoundedBuffer(t *testing.T) {
	for _, lk := range condLockers {
		if lk.name == "sync.RWMutex.RLocker" {
			continue // the buffer's state needs exclusion
		}
		t.Run(lk.name, func(t *testing.T) {
			testutil.Procs(t, []int{1, 2, 4}, func(t *testing.T) {
				const producers, consumers, capacity = 3, 3, 2
				items := testutil.Scale(20000) / producers
				l := lk.new()
				notFull, notEmpty := mutex.NewCond(l), mutex.NewCond(l)
				var buf []int
				seen := make([]int, producers*items)
				testutil.Run(t, producers+consumers, func(id int) {
					if id < producers {
						for i := range items {
							l.Lock()
							for len(buf) == capacity {
								_ = notFull.Wait(context.Background())
							}
							buf = append(buf, id*items+i)
							notEmpty.Signal()
							l.Unlock()
						}
						return
					}
					for range producers * items / consumers {
						l.Lock()
						for len(buf) == 0 {
							_ = notEmpty.Wait(context.Background())
						}
						seen[buf[0]]++
						buf = buf[1:]
						notFull.Signal()
						l.Unlock()
					}
				})
				for v, n := range seen {
					if n != 1 {
						t.Fatalf("item %d received %d times", v, n)
					}
				}
			})
		})
	}
}

// A read locker as L: waiters hold a read lock while they check, the
// writer changes the state under the write lock and broadcasts.
func TestCondWithReadLocker(t *testing.T) {
	var rw sync.RWMutex
	c := mutex.NewCond(rw.RLocker())
	gen := 0
	rounds := testutil.Scale(2000)
	testutil.Run(t, 4, func(id int) {
		if id == 0 {
			for range rounds {
				rw.Lock()
				gen++
				rw.Unlock()
				c.Broadcast()
			}
			return
		}
		rw.RLock()
		for gen < rounds {
			_ = c.Wait(context.Background())
		}
		rw.RUnlock()
	})
}

// Wait without holding L: L's own Unlock panics, the panic reaches the
// caller, and the Cond is left without a phantom waiter that would swallow
// the next Signal.
func TestCondWaitWithoutLock(t *testing.T) {
	var m mutex.Mutex
	c := mutex.NewCond(&m)
	msg := mustPanic(t, func() { _ = c.Wait(context.Background()) })
	if !strings.HasPrefix(msg, "mutex: unlock of unlocked") {
		t.Fatalf("panic %q", msg)
	}
	if counted, queued := c.Waiters(); counted != 0 || queued != 0 {
		t.Fatalf("phantom waiter left: counted %d, queued %d", counted, queued)
	}
	synctest.Test(t, func(t *testing.T) {
		c := mutex.NewCond(&m)
		done := make(chan struct{})
		go func() {
			m.Lock()
			_ = c.Wait(context.Background())
			m.Unlock()
			close(done)
		}()
		synctest.Wait()
		c.Signal()
		<-done
	})
}

// The zero Cond with L set works, as sync.Cond's does.
func TestCondLiteral(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m sync.Mutex
		c := &mutex.Cond{L: &m}
		ready := false
		go func() {
			m.Lock()
			ready = true
			m.Unlock()
			c.Broadcast()
		}()
		m.Lock()
		for !ready {
			if err := c.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		m.Unlock()
	})
}

// The zero Cond has no L: Signal and Broadcast work on it, and Wait is
// misuse, which panics with the package's prefix whatever the ctx (it was
// a nil dereference, or with a done ctx no panic at all).
func TestCondZeroWaitPanics(t *testing.T) {
	var c mutex.Cond
	c.Signal()
	c.Broadcast()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ctx := range []context.Context{context.Background(), done} {
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.HasPrefix(s, "mutex: ") {
					t.Errorf("zero Cond.Wait: panic %q, want one starting %q", s, "mutex: ")
				}
			}()
			_ = c.Wait(ctx)
		}()
	}
}
