package diag_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/mutex"
	"github.com/lockstep-go/lockstep/rwlock"
	"github.com/lockstep-go/lockstep/semaphore"
	"github.com/lockstep-go/lockstep/spin"
)

// locker is what the benchmarks drive.
type locker interface {
	Lock()
	Unlock()
}

// plainSpin is spin.Lock as it was before the diag hooks: the baseline that
// shows, in the same run, that the hooks cost nothing when the debug tag is
// off and nothing is watched.
type plainSpin struct{ state atomic.Uint32 }

func (l *plainSpin) Lock() {
	if l.state.CompareAndSwap(0, 1) {
		return
	}
	l.lockSlow()
}

func (l *plainSpin) lockSlow() {
	for !l.state.CompareAndSwap(0, 1) {
		runtime.Gosched()
	}
}

func (l *plainSpin) Unlock() {
	if l.state.Swap(0) != 1 {
		panic("unlock of unlocked")
	}
}

// benchLocks are the lockstep locks measured, each with its hook-free or
// stdlib baseline in the same run.
var benchLocks = []struct {
	name string
	new  func() locker
}{
	{"sync.Mutex", func() locker { return new(sync.Mutex) }},
	{"mutex.Mutex", func() locker { return new(mutex.Mutex) }},
	{"spin.Lock-nohooks", func() locker { return new(plainSpin) }},
	{"spin.Lock", func() locker { return new(spin.Lock) }},
	{"spin.TicketLock", func() locker { return new(spin.TicketLock) }},
}

// BenchmarkUncontended is one goroutine locking and unlocking, each lock
// type called directly (not through an interface), so that its fast paths
// inline into the loop as they do in user code.
//
//   - watch=none: nothing is watched. Without the debug tag this is the
//     hooks' cost when off: compare spin.Lock with spin.Lock-nohooks (the
//     same lock without hooks) and every lock with sync.Mutex, in the same
//     run.
//   - watch=other: another lock is watched, so this one leaves its inlined
//     fast path for the tracked path and a table lookup.
//   - watch=this: this lock is watched: every acquisition is counted.
//
// With -tags lockstep_debug every acquisition is recorded by the lock-order
// checker, and the figures measure the debug build's cost instead.
func BenchmarkUncontended(b *testing.B) {
	for _, watch := range []string{"none", "other", "this"} {
		for _, impl := range uncontended {
			b.Run(fmt.Sprintf("watch=%s/impl=%s", watch, impl.name), func(b *testing.B) {
				if watch == "other" {
					var other spin.Lock
					diag.Watch(&other, "other")
					defer diag.Unwatch(&other)
				}
				b.ReportAllocs()
				impl.run(b, watch == "this")
			})
		}
	}
}

// watchIf watches l for the length of the benchmark if this is true.
func watchIf[L any](b *testing.B, this bool, l *L) {
	if this {
		diag.Watch(l, "bench")
		b.Cleanup(func() { diag.Unwatch(l) })
	}
}

var uncontended = []struct {
	name string
	run  func(b *testing.B, watch bool)
}{
	{"sync.Mutex", func(b *testing.B, watch bool) {
		var l sync.Mutex
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"mutex.Mutex", func(b *testing.B, watch bool) {
		var l mutex.Mutex
		watchIf(b, watch, &l)
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"mutex.Fair", func(b *testing.B, watch bool) {
		var l mutex.Fair
		watchIf(b, watch, &l)
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"spin.Lock-nohooks", func(b *testing.B, watch bool) {
		var l plainSpin
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"spin.Lock", func(b *testing.B, watch bool) {
		var l spin.Lock
		watchIf(b, watch, &l)
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"spin.TicketLock", func(b *testing.B, watch bool) {
		var l spin.TicketLock
		watchIf(b, watch, &l)
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"rwlock.RWMutex", func(b *testing.B, watch bool) {
		var l rwlock.RWMutex
		watchIf(b, watch, &l)
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	}},
	{"rwlock.RWMutex.RLock", func(b *testing.B, watch bool) {
		var l rwlock.RWMutex
		watchIf(b, watch, &l)
		for b.Loop() {
			l.RLock()
			l.RUnlock()
		}
	}},
	{"semaphore.Weighted", func(b *testing.B, watch bool) {
		l := semaphore.New(1)
		watchIf(b, watch, l)
		ctx := context.Background()
		for b.Loop() {
			_ = l.Acquire(ctx, 1)
			l.Release(1)
		}
	}},
}

// BenchmarkContended is every P locking one lock, with a little work
// inside and between critical sections, unwatched and watched.
func BenchmarkContended(b *testing.B) {
	for _, watch := range []string{"none", "this"} {
		for _, impl := range benchLocks {
			b.Run(fmt.Sprintf("watch=%s/impl=%s", watch, impl.name), func(b *testing.B) {
				l := impl.new()
				if watch == "this" {
					watchAny(l)
					defer unwatchAny(l)
				}
				b.RunParallel(func(pb *testing.PB) {
					x := 0
					for pb.Next() {
						l.Lock()
						x = work(x, 20)
						l.Unlock()
						x = work(x, 20)
					}
					sink.Add(int64(x & 1))
				})
			})
		}
	}
}

var sink atomic.Int64

func work(x, n int) int {
	for i := range n {
		x = x*31 + i
	}
	return x
}

func watchAny(l locker) {
	switch l := l.(type) {
	case *sync.Mutex:
		diag.Watch(l, "bench") // never counts: not a lockstep lock
	case *mutex.Mutex:
		diag.Watch(l, "bench")
	case *plainSpin:
		diag.Watch(l, "bench")
	case *spin.Lock:
		diag.Watch(l, "bench")
	case *spin.TicketLock:
		diag.Watch(l, "bench")
	default:
		panic(fmt.Sprintf("watchAny: %T", l))
	}
}

func unwatchAny(l locker) {
	switch l := l.(type) {
	case *sync.Mutex:
		diag.Unwatch(l)
	case *mutex.Mutex:
		diag.Unwatch(l)
	case *plainSpin:
		diag.Unwatch(l)
	case *spin.Lock:
		diag.Unwatch(l)
	case *spin.TicketLock:
		diag.Unwatch(l)
	}
}
