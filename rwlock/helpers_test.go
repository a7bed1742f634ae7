package rwlock_test

import (
	"context"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/rwlock"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// rwl is the shape every shared test drives: the RWMutex and the ReadMostly
// lock, with read locks passing an RToken (ignored by the RWMutex adapter).
type rwl interface {
	Lock()
	Unlock()
	TryLock() bool
	LockContext(ctx context.Context) error
	RL() rwlock.RToken
	RU(rwlock.RToken)
	TryRL() (rwlock.RToken, bool)
	RLCtx(ctx context.Context) (rwlock.RToken, error)
	Down() rwlock.RToken
	// Under is the RWMutex that queues waiters (for Inspect).
	Under() *rwlock.RWMutex
}

type rwAdapter struct{ *rwlock.RWMutex }

func (a rwAdapter) RL() rwlock.RToken      { a.RLock(); return rwlock.RToken{} }
func (a rwAdapter) RU(rwlock.RToken)       { a.RUnlock() }
func (a rwAdapter) Down() rwlock.RToken    { a.Downgrade(); return rwlock.RToken{} }
func (a rwAdapter) Under() *rwlock.RWMutex { return a.RWMutex }
func (a rwAdapter) TryRL() (rwlock.RToken, bool) {
	return rwlock.RToken{}, a.TryRLock()
}
func (a rwAdapter) RLCtx(ctx context.Context) (rwlock.RToken, error) {
	return rwlock.RToken{}, a.RLockContext(ctx)
}

type rmAdapter struct{ *rwlock.ReadMostly }

func (a rmAdapter) RL() rwlock.RToken            { return a.RLock() }
func (a rmAdapter) RU(t rwlock.RToken)           { a.RUnlock(t) }
func (a rmAdapter) TryRL() (rwlock.RToken, bool) { return a.TryRLock() }
func (a rmAdapter) Down() rwlock.RToken          { return a.Downgrade() }
func (a rmAdapter) Under() *rwlock.RWMutex       { return rwlock.Underlying(a.ReadMostly) }
func (a rmAdapter) RLCtx(ctx context.Context) (rwlock.RToken, error) {
	return a.RLockContext(ctx)
}

type impl struct {
	name string
	new  func() rwl
}

var impls = []impl{
	{"RWMutex", func() rwl { return rwAdapter{new(rwlock.RWMutex)} }},
	{"ReadMostly", func() rwl { return rmAdapter{new(rwlock.ReadMostly)} }},
}

func forEach(t *testing.T, fn func(t *testing.T, newLock func() rwl)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) { fn(t, im.new) })
	}
}

// hammerTokens is testutil.HammerRW through the token-passing shape
// shared by both locks.
func hammerTokens(t *testing.T, l rwl, goroutines, iters, readEvery int) {
	t.Helper()
	testutil.HammerRWTokens(t, l, l.RL, l.RU, goroutines, iters, readEvery)
}

// mustBeFree checks that l is unlocked with nobody queued: TryLock
// succeeds, and the underlying queue is empty.
func mustBeFree(t *testing.T, l rwl) {
	t.Helper()
	if s := rwlock.Inspect(l.Under()); s != (rwlock.Snapshot{}) {
		t.Fatalf("lock not at rest: %+v", s)
	}
	if rm, ok := l.(rmAdapter); ok {
		if sum, _ := rwlock.Counters(rm.ReadMostly); sum != 0 {
			t.Fatalf("reader counters sum to %d at rest", sum)
		}
	}
	if !l.TryLock() {
		t.Fatal("TryLock failed on a lock that should be free")
	}
	l.Unlock()
}
