package suite

import (
	"sync"
	"testing"

	"github.com/lockstep-go/lockstep/rwlock"
	"github.com/puzpuzpuz/xsync/v4"
)

// rwLocker is the read-mostly family's interface. RLock returns a token for
// RUnlock, so that reader-biased locks whose readers must remember their
// slot (xsync's RBMutex) fit; others return nil.
type rwLocker interface {
	Lock()
	Unlock()
	RLock() any
	RUnlock(any)
}

type stdRW struct{ sync.RWMutex }

func (l *stdRW) RLock() any    { l.RWMutex.RLock(); return nil }
func (l *stdRW) RUnlock(_ any) { l.RWMutex.RUnlock() }

type xsyncRB struct{ *xsync.RBMutex }

func (l xsyncRB) RLock() any    { return l.RBMutex.RLock() }
func (l xsyncRB) RUnlock(t any) { l.RBMutex.RUnlock(t.(*xsync.RToken)) }

type lockstepRW struct{ rwlock.RWMutex }

func (l *lockstepRW) RLock() any    { l.RWMutex.RLock(); return nil }
func (l *lockstepRW) RUnlock(_ any) { l.RWMutex.RUnlock() }

type readMostly struct{ rwlock.ReadMostly }

func (l *readMostly) RLock() any    { return l.ReadMostly.RLock() }
func (l *readMostly) RUnlock(t any) { l.ReadMostly.RUnlock(t.(rwlock.RToken)) }

var rwImpls = []impl[rwLocker]{
	{"sync.RWMutex", func() rwLocker { return new(stdRW) }},
	{"xsync.RBMutex", func() rwLocker { return xsyncRB{xsync.NewRBMutex()} }},
	{"lockstep.rwlock.RWMutex", func() rwLocker { return new(lockstepRW) }},
	{"lockstep.rwlock.ReadMostly", func() rwLocker { return new(readMostly) }},
}

// BenchmarkRWLocks: every P reads (and sometimes writes) one lock guarding
// a small critical section, with reader shares of 90%, 99% and 100%.
func BenchmarkRWLocks(b *testing.B) {
	for _, readPct := range []int{90, 99, 100} {
		run(b, kv("reads", readPct), rwImpls, func(b *testing.B, l rwLocker) {
			b.RunParallel(func(pb *testing.PB) {
				local, i := 0, 0
				for pb.Next() {
					i++
					if i%100 < readPct {
						t := l.RLock()
						local += work(10)
						l.RUnlock(t)
					} else {
						l.Lock()
						local += work(10)
						l.Unlock()
					}
					local += work(20)
				}
				sink.Add(int64(local & 1))
			})
		})
	}
}
