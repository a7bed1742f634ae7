package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The lock, the election and the semaphore are one recipe, ZooKeeper's
// ephemeral sequential nodes on etcd: each acquisition puts a key of its own
// under the prefix, bound to the session lease, and etcd's global revision
// orders the keys. A key holds one of the n places when fewer than n keys
// under the prefix were created before it. Keys are only ever added with a
// higher create revision, so the set ahead of a waiter only shrinks: waiting
// is watching for deletions ahead, never polling, and the order is first
// come, first served.
//
// A waiter that gives up deletes its key (with the create-revision guard), so
// the waiters behind it move up, and a grant that raced with the give-up goes
// to the next waiter: rules 3 and 4 of the cancellation contract hold by
// construction.

// entry is one acquisition's key.
type entry struct {
	key string
	rev int64 // create revision: the fencing token
}

// enqueue puts a new key under prefix, bound to s's lease, and returns it.
func (s *Session) enqueue(ctx context.Context, op, prefix, val string) (entry, error) {
	key := s.newKey(prefix)
	resp, err := s.client.Put(ctx, key, val, clientv3.WithLease(s.cs.Lease()))
	if err != nil {
		// The put may have been applied with the reply lost: delete the key
		// if it is there, or it would block the queue until the lease ends.
		s.cleanup(ctx, key, 0)
		return entry{}, wrap(ctx, op, err)
	}
	return entry{key: key, rev: resp.Header.Revision}, nil
}

// waitTurn blocks until fewer than n keys under prefix were created before
// e. It returns ErrSessionClosed if e's key is gone (the lease was lost) and
// an error wrapping ctx.Err() if ctx ends; it never deletes e.
//
// The truth is a single transaction that reads e's key and the keys ahead of
// it; watches only tell when to read again.
func (s *Session) waitTurn(ctx context.Context, op, prefix string, e entry, n int) error {
	for {
		resp, err := s.client.Txn(ctx).Then(
			clientv3.OpGet(e.key, clientv3.WithKeysOnly()),
			clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithMaxCreateRev(e.rev-1),
				clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend),
				clientv3.WithLimit(int64(n))),
		).Commit()
		if err != nil {
			return wrap(ctx, op, err)
		}
		mine := resp.Responses[0].GetResponseRange().Kvs
		if len(mine) == 0 || mine[0].CreateRevision != e.rev {
			return fmt.Errorf("etcd: %s %s: %w", op, prefix, dist.ErrSessionClosed)
		}
		ahead := resp.Responses[1].GetResponseRange().Kvs
		if len(ahead) < n {
			return nil
		}
		// Wake when a key ahead of e (or e itself) is deleted. With n == 1
		// the nearest key ahead is enough (only it can make way for e, and
		// watching it alone avoids a thundering herd); with n > 1 any
		// deletion ahead may.
		watchKey := string(ahead[0].Key)
		opts := []clientv3.OpOption{clientv3.WithFilterPut()}
		if n > 1 {
			watchKey = prefix
			opts = append(opts, clientv3.WithPrefix(), clientv3.WithPrevKV())
		}
		deletedAhead := func(ev *clientv3.Event) bool {
			return ev.Type == mvccpb.DELETE && (ev.PrevKv == nil || ev.PrevKv.CreateRevision <= e.rev)
		}
		if err := s.waitFor(ctx, op, watchKey, resp.Header.Revision+1, deletedAhead, opts...); err != nil {
			return err
		}
	}
}

// waitFor watches key (with opts) from revision rev until an event that
// satisfies match, and returns nil then. It also returns nil if etcd
// compacted the history it needed, so that the caller reads the state
// afresh. It returns an error wrapping ctx.Err() if ctx ends and
// [dist.ErrSessionClosed] if the session ends (or the client closes) first.
//
// Every wait of every recipe goes through here; the callers read the truth
// in a transaction and use the watch only to know when to read again.
func (s *Session) waitFor(ctx context.Context, op, key string, rev int64, match func(*clientv3.Event) bool, opts ...clientv3.OpOption) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx(), cancel) // session end: stop waiting
	defer stop()
	opts = append(opts, clientv3.WithRev(rev))
	// WithRequireLeader: a member cut off from its cluster's leader ends the
	// watch instead of leaving it silent.
	for wr := range s.client.Watch(clientv3.WithRequireLeader(wctx), key, opts...) {
		if err := wr.Err(); err != nil {
			if wr.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
				return nil
			}
			return wrap(ctx, op, err)
		}
		for _, ev := range wr.Events {
			if match(ev) {
				return nil
			}
		}
	}
	// The watch channel closed: ctx ended, the session ended, or the
	// client closed.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: %s: %w", op, err)
	}
	return fmt.Errorf("etcd: %s: watch ended: %w", op, dist.ErrSessionClosed)
}

// remove deletes key if its create revision is still rev (any revision if
// rev is 0) and reports whether it did. It is the only way any recipe deletes
// a key: a retried or stale remove can never delete a newer holder's key
// (etcd's own Mutex.Unlock deletes by name, etcd-io/etcd#22082).
func (s *Session) remove(ctx context.Context, key string, rev int64) (bool, error) {
	txn := s.client.Txn(ctx)
	if rev != 0 {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev))
	}
	resp, err := txn.Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return false, err
	}
	if !resp.Succeeded {
		return false, nil
	}
	return resp.Responses[0].GetResponseDeleteRange().Deleted > 0, nil
}

// cleanupTimeout bounds the delete of a given-up waiter's key. If it fails,
// the key goes with the session's lease.
const cleanupTimeout = 5 * time.Second

// cleanup deletes the key of an acquisition that failed or was cancelled. It
// runs even though ctx may be done (it keeps ctx's values, not its
// cancellation) so that no key is left behind to block the queue.
func (s *Session) cleanup(ctx context.Context, key string, rev int64) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.remove(cctx, key, rev)
}

// acquire is enqueue + waitTurn, cleaning up on failure.
func (s *Session) acquire(ctx context.Context, op, prefix, val string, n int) (entry, error) {
	if err := ctx.Err(); err != nil {
		return entry{}, fmt.Errorf("etcd: %s: %w", op, err)
	}
	if err := s.alive(op); err != nil {
		return entry{}, err
	}
	e, err := s.enqueue(ctx, op, prefix, val)
	if err != nil {
		return entry{}, err
	}
	if err := s.waitTurn(ctx, op, prefix, e, n); err != nil {
		s.cleanup(ctx, e.key, e.rev)
		return entry{}, err
	}
	return e, nil
}

// tryAcquire is enqueue + one look: it keeps the key only if it holds a
// place at once, and otherwise deletes it and returns busy.
func (s *Session) tryAcquire(ctx context.Context, op, prefix, val string, n int, busy error) (entry, error) {
	if err := ctx.Err(); err != nil {
		return entry{}, fmt.Errorf("etcd: %s: %w", op, err)
	}
	if err := s.alive(op); err != nil {
		return entry{}, err
	}
	key := s.newKey(prefix)
	resp, err := s.client.Txn(ctx).Then(
		clientv3.OpPut(key, val, clientv3.WithLease(s.cs.Lease())),
		clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend),
			clientv3.WithLimit(int64(n))),
	).Commit()
	if err != nil {
		s.cleanup(ctx, key, 0)
		return entry{}, wrap(ctx, op, err)
	}
	e := entry{key: key, rev: resp.Header.Revision}
	// The first n keys by creation include e's (created in this very
	// transaction) exactly when fewer than n came before it.
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if kv.CreateRevision == e.rev {
			return e, nil
		}
	}
	s.cleanup(ctx, e.key, e.rev)
	return entry{}, fmt.Errorf("etcd: %s %s: %w", op, prefix, busy)
}

// wrap returns err annotated with op, and an error that satisfies
// errors.Is(err, ctx.Err()) when ctx ended: the etcd client reports a
// cancelled call as a gRPC status, not as the ctx error.
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("etcd: %s: %w", op, cerr)
	}
	return fmt.Errorf("etcd: %s: %w", op, err)
}

// held is an acquired entry: the state shared by Lock, Leadership and
// Permit.
type held struct {
	s *Session
	entry

	mu       sync.Mutex // serializes release; protects released
	released bool
}

// release deletes the entry's key if it is still the entry's. It returns
// lost (wrapped) if the key was already gone, and panics with misuse if a
// previous release already succeeded or found the key gone. A release that
// failed otherwise may be retried.
func (h *held) release(ctx context.Context, op string, lost error, misuse string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		panic(misuse)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: %s: %w", op, err)
	}
	if h.s.client.Ctx().Err() != nil {
		return fmt.Errorf("etcd: %s: client closed: %w", op, dist.ErrSessionClosed)
	}
	ok, err := h.s.remove(ctx, h.key, h.rev)
	if err != nil {
		return wrap(ctx, op, err)
	}
	h.released = true
	if !ok {
		return fmt.Errorf("etcd: %s %s: %w", op, h.key, lost)
	}
	return nil
}

// isOwner is the comparison that holds while the entry's key exists.
func (h *held) isOwner() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(h.key), "=", h.rev)
}
