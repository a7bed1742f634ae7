package rwlock_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/rwlock"
)

// benchLock is the shape the benchmarks drive, so that sync.RWMutex (the
// baseline), RWMutex and ReadMostly run the same code in the same run.
type benchLock interface {
	Lock()
	Unlock()
	RLock() rwlock.RToken
	RUnlock(rwlock.RToken)
}

type syncBench struct{ mu sync.RWMutex }

func (l *syncBench) Lock()                 { l.mu.Lock() }
func (l *syncBench) Unlock()               { l.mu.Unlock() }
func (l *syncBench) RLock() rwlock.RToken  { l.mu.RLock(); return rwlock.RToken{} }
func (l *syncBench) RUnlock(rwlock.RToken) { l.mu.RUnlock() }

type lockstepBench struct{ mu rwlock.RWMutex }

func (l *lockstepBench) Lock()                 { l.mu.Lock() }
func (l *lockstepBench) Unlock()               { l.mu.Unlock() }
func (l *lockstepBench) RLock() rwlock.RToken  { l.mu.RLock(); return rwlock.RToken{} }
func (l *lockstepBench) RUnlock(rwlock.RToken) { l.mu.RUnlock() }

type readMostlyBench struct{ mu rwlock.ReadMostly }

func (l *readMostlyBench) Lock()                   { l.mu.Lock() }
func (l *readMostlyBench) Unlock()                 { l.mu.Unlock() }
func (l *readMostlyBench) RLock() rwlock.RToken    { return l.mu.RLock() }
func (l *readMostlyBench) RUnlock(t rwlock.RToken) { l.mu.RUnlock(t) }

var benchImpls = []struct {
	name string
	new  func() benchLock
}{
	{"sync", func() benchLock { return new(syncBench) }},
	{"lockstep", func() benchLock { return new(lockstepBench) }},
	{"readmostly", func() benchLock { return new(readMostlyBench) }},
}

// Uncontended: one goroutine, the fast paths alone (0 allocs/op).
func BenchmarkUncontended(b *testing.B) {
	for _, im := range benchImpls {
		b.Run("op=read/impl="+im.name, func(b *testing.B) {
			l := im.new()
			l.RUnlock(l.RLock()) // the first read turns ReadMostly's bias on
			b.ReportAllocs()
			stop := startCPU(b)
			for b.Loop() {
				l.RUnlock(l.RLock())
			}
			stop()
		})
		b.Run("op=write/impl="+im.name, func(b *testing.B) {
			l := im.new()
			b.ReportAllocs()
			stop := startCPU(b)
			for b.Loop() {
				l.Lock()
				l.Unlock()
			}
			stop()
		})
	}
}

// UncontendedContext: the ctx variants with a cancelable context, which
// they must check first (0 allocs/op).
func BenchmarkUncontendedContext(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("op=read/impl=lockstep", func(b *testing.B) {
		var l rwlock.RWMutex
		b.ReportAllocs()
		stop := startCPU(b)
		for b.Loop() {
			if l.RLockContext(ctx) != nil {
				b.Fatal("RLockContext failed")
			}
			l.RUnlock()
		}
		stop()
	})
	b.Run("op=write/impl=lockstep", func(b *testing.B) {
		var l rwlock.RWMutex
		b.ReportAllocs()
		stop := startCPU(b)
		for b.Loop() {
			if l.LockContext(ctx) != nil {
				b.Fatal("LockContext failed")
			}
			l.Unlock()
		}
		stop()
	})
	b.Run("op=read/impl=readmostly", func(b *testing.B) {
		var l rwlock.ReadMostly
		l.RUnlock(l.RLock())
		b.ReportAllocs()
		stop := startCPU(b)
		for b.Loop() {
			tok, err := l.RLockContext(ctx)
			if err != nil {
				b.Fatal("RLockContext failed")
			}
			l.RUnlock(tok)
		}
		stop()
	})
}

// sink keeps the critical sections' work alive.
var sink int

// Parallel: GOMAXPROCS goroutines (set with -cpu) doing reads=N% reads and
// the rest writes, each with a small critical section (a few loads or a
// store) and a little local work between operations, in the style of the
// sync package's BenchmarkRWMutexWork.
func BenchmarkParallel(b *testing.B) {
	for _, mix := range []struct {
		name    string
		permill int // reads per 1000 operations
	}{{"100", 1000}, {"99.9", 999}, {"99", 990}, {"90", 900}} {
		for _, im := range benchImpls {
			b.Run(fmt.Sprintf("reads=%s/impl=%s", mix.name, im.name), func(b *testing.B) {
				l := im.new()
				l.RUnlock(l.RLock())
				var data [8]int
				b.ReportAllocs()
				defer startCPU(b)()
				b.RunParallel(func(pb *testing.PB) {
					local, i := 0, 0
					for pb.Next() {
						i++
						if i%1000 < mix.permill {
							tok := l.RLock()
							for j := range data {
								local += data[j]
							}
							l.RUnlock(tok)
						} else {
							l.Lock()
							data[i%len(data)]++
							l.Unlock()
						}
						for j := range 8 { // local work between operations
							local = local*31 + j
						}
					}
					if local == 42 {
						sink = local
					}
				})
			})
		}
	}
}
