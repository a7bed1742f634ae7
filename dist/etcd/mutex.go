package etcd

import (
	"context"
	"strings"

	"github.com/lockstep-go/lockstep/dist"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Mutex is a distributed mutual-exclusion lock named by a key prefix in
// etcd. Every Mutex with the same name, in any process, on any session,
// excludes every other: at most one [Lock] of a name is held at a time, as
// long as each holder's lease lives. Waiters are served in the order they
// called Lock (first come, first served, by etcd revision); two Locks of one
// session exclude each other too.
//
// A Mutex holds no state of its own: it is a name and a session, safe for
// concurrent use, and each acquisition is a [Lock] value.
//
// Memory model, across processes: the n'th Unlock of a name completes in
// etcd before the (n+1)'th Lock returns (the successor's Lock reads the
// deletion), so writes that the n'th holder made to a linearizable store
// before its Unlock returned are visible to the (n+1)'th holder. When a
// holder's lease expires instead, nothing of the kind holds: its writes may
// land after the next holder's; that is what [Lock.Token] is for.
type Mutex struct {
	s      *Session
	prefix string
}

// NewMutex returns the mutex named name on session s. Keys are created under
// name + "/". Names should not be prefixes of each other ("a" and "a/b"):
// their keys would share a range.
func NewMutex(s *Session, name string) *Mutex {
	if s == nil {
		panic("etcd: NewMutex with nil Session")
	}
	return &Mutex{s: s, prefix: strings.TrimSuffix(name, "/") + "/"}
}

// Lock blocks until the lock is acquired and returns the held lock.
//
// If ctx ends first, Lock returns an error for which errors.Is(err,
// ctx.Err()) holds and deletes its waiting key, so the waiters behind it move
// up and nothing is left behind; a ctx that is already done fails at once.
// If the session ends while waiting, Lock returns [dist.ErrSessionClosed].
func (m *Mutex) Lock(ctx context.Context) (*Lock, error) {
	e, err := m.s.acquire(ctx, "lock", m.prefix, "", 1)
	if err != nil {
		return nil, err
	}
	return &Lock{held{s: m.s, entry: e}}, nil
}

// TryLock acquires the lock if nobody holds it and nobody is queued for it,
// in one round trip, and otherwise returns [dist.ErrLocked] without waiting.
// It never jumps the queue.
func (m *Mutex) TryLock(ctx context.Context) (*Lock, error) {
	e, err := m.s.tryAcquire(ctx, "trylock", m.prefix, "", 1, dist.ErrLocked)
	if err != nil {
		return nil, err
	}
	return &Lock{held{s: m.s, entry: e}}, nil
}

// Name returns the key prefix of the mutex, with its trailing "/".
func (m *Mutex) Name() string { return m.prefix }

// A Lock is one acquisition of a [Mutex]: a lease on the lock, held until
// Unlock or until the session's lease is lost, whichever comes first.
//
// A Lock is a lease, not a guarantee: a holder that pauses for longer than
// the TTL (GC, swap, a partition) may still believe it holds the lock after
// etcd has given it to someone else. Pass [Lock.Token] to the resource you
// protect and have it refuse tokens lower than one it has seen (see
// [dist.Fence]), or guard writes to etcd itself with [Lock.IsOwner].
type Lock struct {
	held
}

// Token returns the fencing token: the etcd revision at which this
// acquisition's key was created. Tokens of one name grow strictly with every
// acquisition (they come from etcd's single revision counter, so they also
// grow across names).
func (l *Lock) Token() int64 { return l.rev }

// Key returns the etcd key that represents this acquisition.
func (l *Lock) Key() string { return l.key }

// Lost returns a channel that is closed when the session's lease is lost or
// closed, after which the lock must be treated as gone. It is not closed by
// Unlock. A key deleted by other means than the lease (by hand) is not
// detected; [Lock.IsOwner] in a transaction detects it.
func (l *Lock) Lost() <-chan struct{} { return l.s.Done() }

// IsOwner returns a comparison that holds while this acquisition's key still
// exists. Put it in the If of an etcd transaction to make a write to etcd
// conditional on still holding the lock, atomically:
//
//	client.Txn(ctx).If(lock.IsOwner()).Then(clientv3.OpPut(k, v)).Commit()
func (l *Lock) IsOwner() clientv3.Cmp { return l.isOwner() }

// Unlock releases the lock. It deletes the key only if it is still this
// acquisition's (same create revision), so a stale or retried Unlock can
// never release a later holder's lock. If the key is already gone (the lease
// expired, the session was closed), Unlock returns [dist.ErrLockLost]; the
// lock is released either way.
//
// If Unlock fails for another reason (ctx ended, etcd unreachable) the lock
// may or may not be released, and it is safe to call Unlock again; the lock
// is released when the session ends in any case. Calling Unlock again after
// it returned nil or ErrLockLost is a bug and panics.
func (l *Lock) Unlock(ctx context.Context) error {
	return l.release(ctx, "unlock", dist.ErrLockLost, "etcd: Unlock of unlocked Lock")
}
