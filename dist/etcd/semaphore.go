package etcd

import (
	"context"
	"strings"

	"github.com/lockstep-go/lockstep/dist"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Semaphore admits at most n holders of a name at a time, across
// processes: Curator's InterProcessSemaphoreV2 on etcd. Requests are served
// first come, first served (a waiter is never overtaken, and TryAcquire never
// jumps the queue). A permit is a key bound to its session's lease, so the
// permits of a session that dies are freed after the TTL, and at once when
// the session is closed.
//
// Every Semaphore of one name must be made with the same n; the semaphore
// does not store n, and holders that disagree on it see different limits.
// A Semaphore is safe for concurrent use.
type Semaphore struct {
	s      *Session
	prefix string
	n      int
}

// NewSemaphore returns the semaphore named name with n permits on session s.
// It panics if n < 1.
func NewSemaphore(s *Session, name string, n int) *Semaphore {
	if s == nil {
		panic("etcd: NewSemaphore with nil Session")
	}
	if n < 1 {
		panic("etcd: NewSemaphore with n < 1")
	}
	return &Semaphore{s: s, prefix: strings.TrimSuffix(name, "/") + "/", n: n}
}

// Acquire blocks until a permit is free and every earlier request has been
// served, and returns the permit.
//
// If ctx ends first, Acquire returns an error for which errors.Is(err,
// ctx.Err()) holds and withdraws its request (its key is deleted, so the
// requests behind it move up); a ctx that is already done fails at once.
func (m *Semaphore) Acquire(ctx context.Context) (*Permit, error) {
	e, err := m.s.acquire(ctx, "acquire", m.prefix, "", m.n)
	if err != nil {
		return nil, err
	}
	return &Permit{held{s: m.s, entry: e}}, nil
}

// TryAcquire takes a permit if one is free and nobody is queued ahead, and
// otherwise returns [dist.ErrNoPermit] without waiting.
func (m *Semaphore) TryAcquire(ctx context.Context) (*Permit, error) {
	e, err := m.s.tryAcquire(ctx, "tryacquire", m.prefix, "", m.n, dist.ErrNoPermit)
	if err != nil {
		return nil, err
	}
	return &Permit{held{s: m.s, entry: e}}, nil
}

// Holders returns the number of permits held now, at most n (a snapshot,
// stale as soon as it returns).
func (m *Semaphore) Holders(ctx context.Context) (int, error) {
	resp, err := m.s.client.Get(ctx, m.prefix, inLine(m.prefix), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(int64(m.n)))
	if err != nil {
		return 0, wrap(ctx, "holders", err)
	}
	return len(resp.Kvs), nil
}

// A Permit is one held permit of a [Semaphore], a lease like [Lock].
type Permit struct {
	held
}

// Token returns the permit's key create revision, which grows with every
// acquisition.
func (p *Permit) Token() int64 { return p.rev }

// Key returns the permit's key.
func (p *Permit) Key() string { return p.key }

// Lost returns a channel that is closed when the session's lease is lost or
// closed. Release does not close it.
func (p *Permit) Lost() <-chan struct{} { return p.s.Done() }

// Release gives the permit back. It deletes only its own key and returns
// [dist.ErrLockLost] if the key was already gone. After a failure for
// another reason it may be called again; calling it again after it returned
// nil or ErrLockLost is a bug and panics.
func (p *Permit) Release(ctx context.Context) error {
	return p.release(ctx, "release", dist.ErrLockLost, "etcd: Release of released Permit")
}
