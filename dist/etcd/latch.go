package etcd

import (
	"context"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Latch is a countdown latch over one counter key: processes wait until
// others have counted it down to zero, once. It is the distributed form of
// lockstep's latch.Latch.
//
// Every Latch of one name must be made with the same count. The key is
// created with that count by the first CountDown (a Wait before it sees the
// count it was made with) and holds the remaining count as a decimal string.
// It is not bound to any lease: the count survives the processes that count
// down, and the key stays in etcd until you delete it (Delete).
//
// Memory model, across processes: a CountDown that reaches zero completes
// in etcd before any Wait that it releases returns.
type Latch struct {
	s     *Session
	key   string
	count int
}

// NewLatch returns the latch named name (the key is name itself) counting
// down from count, on session s. It panics if count < 0.
func NewLatch(s *Session, name string, count int) *Latch {
	if s == nil {
		panic("etcd: NewLatch with nil Session")
	}
	if count < 0 {
		panic("etcd: NewLatch with negative count")
	}
	return &Latch{s: s, key: name, count: count}
}

// CountDown decrements the count, atomically with reading it; at zero it
// has no effect. If it fails, the count may or may not have been decremented
// (etcd could have applied the write with the reply lost): like any write
// over a network, it is at most once, not exactly once.
func (l *Latch) CountDown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: countdown: %w", err)
	}
	for {
		resp, err := l.s.client.Get(ctx, l.key)
		if err != nil {
			return wrap(ctx, "countdown", err)
		}
		n, mod := l.count, int64(0)
		if len(resp.Kvs) > 0 {
			if n, err = parseCount(resp.Kvs[0]); err != nil {
				return err
			}
			mod = resp.Kvs[0].ModRevision
		}
		if n == 0 {
			return nil
		}
		// Compare-and-swap on the key's mod revision (0: key absent).
		tresp, err := l.s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(l.key), "=", mod)).
			Then(clientv3.OpPut(l.key, strconv.Itoa(n-1))).Commit()
		if err != nil {
			return wrap(ctx, "countdown", err)
		}
		if tresp.Succeeded {
			return nil
		}
	}
}

// Count returns the remaining count (a snapshot).
func (l *Latch) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("etcd: count: %w", err)
	}
	resp, err := l.s.client.Get(ctx, l.key)
	if err != nil {
		return 0, wrap(ctx, "count", err)
	}
	if len(resp.Kvs) == 0 {
		return l.count, nil
	}
	return parseCount(resp.Kvs[0])
}

// Wait blocks until the count is zero; it returns at once if it is. If ctx
// ends first it returns an error for which errors.Is(err, ctx.Err()) holds;
// if the session ends first, [dist.ErrSessionClosed].
func (l *Latch) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: wait: %w", err)
	}
	w, err := l.s.watch(ctx, "wait", l.key)
	if err != nil {
		return err
	}
	defer w.close()
	for {
		n, err := l.Count(ctx)
		if err != nil || n == 0 {
			return err
		}
		if err := w.next(ctx, "wait", isZero); err != errRewatched {
			return err
		}
	}
}

// Delete removes the latch's key. A later CountDown starts over from count.
func (l *Latch) Delete(ctx context.Context) error {
	if _, err := l.s.client.Delete(ctx, l.key); err != nil {
		return wrap(ctx, "delete", err)
	}
	return nil
}

func isZero(ev *clientv3.Event) bool {
	return ev.Type == mvccpb.PUT && string(ev.Kv.Value) == "0"
}

func parseCount(kv *mvccpb.KeyValue) (int, error) {
	n, err := strconv.Atoi(string(kv.Value))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("etcd: latch key %s holds %q, not a count", kv.Key, kv.Value)
	}
	return n, nil
}
