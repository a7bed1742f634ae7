package etcd

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Barrier holds every process that waits on it until it is released:
// Curator's DistributedBarrier on etcd. It is one key: Hold creates it,
// Release deletes it, Wait blocks while it exists.
//
// The key is bound to the holding session's lease, so a holder that dies
// releases the barrier after the TTL rather than wedging the waiters
// forever. Any process may Release it, not only the one that held it.
type Barrier struct {
	s   *Session
	key string
}

// NewBarrier returns the barrier named name on session s (the key is name
// itself).
func NewBarrier(s *Session, name string) *Barrier {
	if s == nil {
		panic("etcd: NewBarrier with nil Session")
	}
	return &Barrier{s: s, key: name}
}

// Hold raises the barrier. If it is already raised, Hold leaves it as it is
// (bound to the first holder's lease) and returns nil.
func (b *Barrier) Hold(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: hold: %w", err)
	}
	if err := b.s.alive("hold"); err != nil {
		return err
	}
	_, err := b.s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(b.key), "=", 0)).
		Then(clientv3.OpPut(b.key, "", clientv3.WithLease(b.s.cs.Lease()))).Commit()
	if err != nil {
		return wrap(ctx, "hold", err)
	}
	return nil
}

// Release lowers the barrier and so releases every waiter. Releasing a
// barrier that is not held does nothing.
func (b *Barrier) Release(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: release: %w", err)
	}
	if _, err := b.s.client.Delete(ctx, b.key); err != nil {
		return wrap(ctx, "release", err)
	}
	return nil
}

// Wait blocks while the barrier is held. It returns at once if the barrier is
// not held, an error wrapping ctx.Err() if ctx ends first, and
// [dist.ErrSessionClosed] if the session ends first.
func (b *Barrier) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: wait: %w", err)
	}
	w, err := b.s.watch(ctx, "wait", b.key)
	if err != nil {
		return err
	}
	defer w.close()
	var held int64 // create revision of the barrier key first read
	for {
		resp, err := b.s.client.Get(ctx, b.key, clientv3.WithKeysOnly())
		if err != nil {
			return wrap(ctx, "wait", err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		// Another key than the one first read: the barrier was released
		// and raised again while the watch, reopened after a compaction
		// (errRewatched), could not show the deletion.
		if rev := resp.Kvs[0].CreateRevision; held == 0 {
			held = rev
		} else if rev != held {
			return nil
		}
		if err := w.next(ctx, "wait", isDelete); err != errRewatched {
			return err
		}
	}
}

func isDelete(ev *clientv3.Event) bool { return ev.Type == mvccpb.DELETE }

// A DoubleBarrier lets n processes start a computation together and finish
// it together: Curator's DistributedDoubleBarrier on etcd. Enter blocks until
// n members have entered; Leave blocks until every member has left.
//
// Each participant makes its own DoubleBarrier (one per process, or per
// goroutine) and calls Enter once, then Leave once. Membership keys are bound
// to the session's lease: a member that dies stops counting after the TTL,
// so it never wedges Leave (but Enter then waits for a replacement). A name
// serves one round: use a fresh name (a round number) for the next.
type DoubleBarrier struct {
	s      *Session
	prefix string
	n      int

	mu    sync.Mutex // protects me, state
	me    entry
	state int // 0 new, 1 entered, 2 left
}

// NewDoubleBarrier returns a participant of the double barrier named name
// for n members, on session s. It panics if n < 1. Opening the barrier is
// one etcd transaction with n+1 comparisons and n+1 puts, so n is limited
// by the server's --max-txn-ops (128 by default).
func NewDoubleBarrier(s *Session, name string, n int) *DoubleBarrier {
	if s == nil {
		panic("etcd: NewDoubleBarrier with nil Session")
	}
	if n < 1 {
		panic("etcd: NewDoubleBarrier with n < 1")
	}
	return &DoubleBarrier{s: s, prefix: strings.TrimSuffix(name, "/") + "/", n: n}
}

func (d *DoubleBarrier) readyKey() string   { return d.prefix + "ready" }
func (d *DoubleBarrier) membersKey() string { return d.prefix + "members/" }

// Enter registers the caller as a member and blocks until n members have
// entered (or the barrier was already open, for a late member).
//
// If ctx ends first, Enter returns an error for which errors.Is(err,
// ctx.Err()) holds and withdraws the caller (its member key is deleted),
// unless the barrier opened with the caller inside before it could
// withdraw: then the opening wins and Enter returns nil, since the others
// entered counting it. It panics if called twice.
func (d *DoubleBarrier) Enter(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != 0 {
		panic("etcd: DoubleBarrier.Enter called twice")
	}
	e, _, err := d.s.join(ctx, "enter", d.membersKey(), "", 1, true)
	if err != nil {
		return err
	}
	if err := d.waitReady(ctx, e); err != nil {
		if d.withdraw(ctx, e) {
			return err
		}
	}
	d.me, d.state = e, 1
	return nil
}

// withdraw deletes e's member key unless the barrier is open, atomically
// with the check, and reports false if it found the barrier open with e's
// key in it: the caller is inside, as the members that entered counted it.
// (A plain delete let a counted member withdraw after the others had
// entered, leaving them with fewer than n. Found by an adversarial review.)
// Like [Session.cleanup] it runs even though ctx may be done; if it fails,
// its key is deleted in the background (see Session.settle), so that the
// key of a member that left is not counted by a later opening. (An opening
// that counts it before a try gets through is not undone; the key goes
// anyway, so that those members' Leave does not wait for it.)
func (d *DoubleBarrier) withdraw(ctx context.Context, e entry) bool {
	mine := clientv3.Compare(clientv3.CreateRevision(e.key), "=", e.rev)
	notCounted := clientv3.Compare(clientv3.Value(e.key), "=", "")
	cctx, cancel := d.s.cleanupCtx(ctx)
	resp, err := d.s.client.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(d.readyKey()), "=", 0), mine, notCounted).
		Then(clientv3.OpDelete(e.key)).
		Else(clientv3.OpTxn([]clientv3.Cmp{mine}, nil, nil)).Commit()
	cancel()
	if err != nil {
		// Enter fails: the key must go even if an opening counts it
		// before a retry gets through, or the members inside would wait
		// in Leave for a member that never leaves (see giveUp).
		d.s.retry(ctx, func(cctx context.Context) error {
			_, err := d.s.remove(cctx, e.key, e.rev)
			return err
		})
		return true
	}
	if resp.Succeeded {
		return true
	}
	// Open (or counted by an opening whose ready key is gone), or e's key
	// gone (the session ended): inside only if e's key is still there.
	return !resp.Responses[0].GetResponseTxn().Succeeded
}

// countedValue is the value of a member key that an opening counted (a
// member joins with an empty value).
const countedValue = "counted"

func (d *DoubleBarrier) waitReady(ctx context.Context, e entry) error {
	ready, members := d.readyKey(), d.membersKey()
	// Watch from just after our member key, not from now: the barrier may
	// open counting us, and the ready key go with its opener's session,
	// between our join and our first read. The ready key's put is then
	// only in the history, which the watch replays. (Watching from now, a
	// member counted by an opener that died at once waited for a
	// replacement that need never come. Found by an adversarial review,
	// 2026-12-06.)
	w, err := d.s.watch(ctx, "enter", d.prefix, clientv3.WithPrefix(), clientv3.WithRev(e.rev+1))
	if err != nil {
		return err
	}
	defer w.close()
	for {
		resp, err := d.s.client.Txn(ctx).Then(
			clientv3.OpGet(ready, clientv3.WithKeysOnly()),
			clientv3.OpGet(members, inLine(members), clientv3.WithKeysOnly()),
			clientv3.OpGet(e.key),
		).Commit()
		if err != nil {
			return wrap(ctx, "enter", err)
		}
		if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			return nil
		}
		// Counted by an opening (see below) whose ready key is gone with
		// its opener's lease, and whose put the watch could not show: the
		// history was compacted while it was reopened (errRewatched).
		if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) > 0 && kvs[0].CreateRevision == e.rev && string(kvs[0].Value) == countedValue {
			return nil
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) >= d.n {
			// Open the barrier only if n of the members counted are still
			// there (none withdrew since the read) and it is not open yet,
			// atomically with the open: never for fewer than n.
			cmp := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(ready), "=", 0)}
			for _, kv := range kvs[:d.n] {
				cmp = append(cmp, clientv3.Compare(clientv3.CreateRevision(string(kv.Key)), "=", kv.CreateRevision))
			}
			// Each member counted is marked in its own key, bound to its
			// own lease, with the opening: a member that cannot see the
			// ready key's put (gone with this session's lease, and its
			// history compacted) still learns that it was counted.
			ops := []clientv3.Op{clientv3.OpPut(ready, "", clientv3.WithLease(d.s.cs.Lease()))}
			for _, kv := range kvs[:d.n] {
				ops = append(ops, clientv3.OpPut(string(kv.Key), countedValue, clientv3.WithIgnoreLease()))
			}
			tresp, err := d.s.client.Txn(ctx).If(cmp...).Then(ops...).Commit()
			if err != nil {
				return wrap(ctx, "enter", err)
			}
			if tresp.Succeeded {
				return nil
			}
			continue // someone else opened it, or our key is gone: look again
		}
		// A put of the ready key seen on the watch (opened after our member
		// key) is the barrier opening with us inside: enter on the event
		// itself, even if the key is gone again by the time we could read it.
		// Any other put (a member arrived) means count again.
		opened := false
		arrived := func(ev *clientv3.Event) bool {
			opened = ev.Type == mvccpb.PUT && string(ev.Kv.Key) == ready
			return ev.Type == mvccpb.PUT
		}
		if err := w.next(ctx, "enter", arrived); err == errRewatched {
			continue // history lost to a compaction: count again
		} else if err != nil {
			return err
		}
		if opened {
			return nil
		}
	}
}

// Leave withdraws the caller and blocks until every member has left; the
// last one out removes the barrier's keys.
//
// If ctx ends first, Leave returns an error for which errors.Is(err,
// ctx.Err()) holds. Once the caller's member key is removed it has left all
// the same (the others do not wait for it), and an error only means it
// stopped waiting for them. If the key was not removed (ctx already done
// on entry, as the cancellation contract has it, or the delete failed),
// the caller is still a member, the others still wait for it, and Leave
// may be called again. It panics if called before a successful Enter, or
// after a Leave that removed the key.
func (d *DoubleBarrier) Leave(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != 1 {
		panic("etcd: DoubleBarrier.Leave without Enter")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: leave: %w", err)
	}
	if _, err := d.s.remove(ctx, d.me.key, d.me.rev); err != nil {
		return wrap(ctx, "leave", err) // not left: Leave may be retried
	}
	d.state = 2
	w, err := d.s.watch(ctx, "leave", d.membersKey(), inLine(d.membersKey()))
	if err != nil {
		return err
	}
	defer w.close()
	for {
		resp, err := d.s.client.Get(ctx, d.membersKey(), inLine(d.membersKey()), clientv3.WithCountOnly())
		if err != nil {
			return wrap(ctx, "leave", err)
		}
		if resp.Count == 0 {
			// Last out (or one of the last): close the round. Deleting by
			// name is right here: whoever opened the barrier, it is done.
			if _, err := d.s.client.Delete(ctx, d.readyKey()); err != nil {
				return wrap(ctx, "leave", err)
			}
			return nil
		}
		if err := w.next(ctx, "leave", isDelete); err != nil && err != errRewatched {
			return err
		}
	}
}
