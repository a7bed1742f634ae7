package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// waitTurn blocks until fewer than n keys under prefix were created before
// e. It returns ErrSessionClosed if e's key is gone (the lease was lost) and
// an error wrapping ctx.Err() if ctx ends; it never deletes e.
//
// The truth is a single transaction that reads e's key and the keys ahead of
// it; the watch only tells when to read again.
func (s *Session) waitTurn(ctx context.Context, op, prefix string, e entry, n int) error {
	// With n == 1 only the nearest key ahead can make way for e, so a
	// deletion of any other key ahead wakes nobody (no thundering herd of
	// reads); with n > 1 any deletion ahead may. The deletion of e's own key
	// (the lease ended) always wakes.
	var next string // n == 1: the key ahead of e, from the last read
	woken := func(ev *clientv3.Event) bool {
		if ev.Type != mvccpb.DELETE {
			return false
		}
		if ev.PrevKv == nil {
			return true // no previous value to judge by: read again
		}
		switch {
		case ev.PrevKv.CreateRevision == e.rev:
			return true
		case ev.PrevKv.CreateRevision > e.rev:
			return false
		}
		return n > 1 || string(ev.Kv.Key) == next
	}
	w, err := s.watch(ctx, op, prefix, inLine(prefix), clientv3.WithPrevKV(), clientv3.WithFilterPut())
	if err != nil {
		return err
	}
	defer w.close()
	for {
		resp, err := s.client.Txn(ctx).Then(
			clientv3.OpGet(e.key, clientv3.WithKeysOnly()),
			clientv3.OpGet(prefix, inLine(prefix), clientv3.WithKeysOnly(),
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
		next = string(ahead[0].Key)
		if err := w.next(ctx, op, woken); err != nil && err != errRewatched {
			return err
		}
	}
}

// A watcher is a watch opened before the state it guards is read
// (register, then re-check): every change after the read is delivered, and
// promptly. A watch opened after the read, from the read's revision, would
// miss nothing either, but if the change came first etcd serves it from its
// history on the next sync of unsynced watchers, up to 100ms later.
type watcher struct {
	s    *Session
	key  string
	opts []clientv3.OpOption

	wch    clientv3.WatchChan
	cancel context.CancelFunc
	stop   func() bool
	rest   []*clientv3.Event // events of the last response after the one next matched
}

// errRewatched is returned by [watcher.next] when the watch lost history
// to a compaction and was opened again from the current revision: events
// may have been missed, so the caller must read the state again (and may
// find what it waited for).
var errRewatched = errors.New("etcd: watch reopened after a compaction")

// watch opens a watch on key (with opts) from the next revision, or from
// the one opts give (clientv3.WithRev), and waits
// until etcd has registered it. The watch ends when ctx or the session
// ends; the caller must close it.
func (s *Session) watch(ctx context.Context, op, key string, opts ...clientv3.OpOption) (*watcher, error) {
	w := &watcher{s: s, key: key, opts: append(slices.Clip(opts), clientv3.WithCreatedNotify())}
	if err := w.open(ctx, op); err != nil {
		return nil, err
	}
	return w, nil
}

// open opens the watch, with extra options after w's own, and waits until
// etcd has registered it; on failure the watch is closed.
func (w *watcher) open(ctx context.Context, op string, extra ...clientv3.OpOption) error {
	wctx, cancel := context.WithCancel(ctx)
	w.cancel, w.stop = cancel, context.AfterFunc(w.s.ctx(), cancel) // session end: stop waiting
	// WithRequireLeader: a member cut off from its cluster's leader ends the
	// watch instead of leaving it silent.
	w.wch = w.s.client.Watch(clientv3.WithRequireLeader(wctx), w.key, slices.Concat(w.opts, extra)...)
	for {
		wr, ok := <-w.wch
		if !ok {
			w.close()
			return endedErr(ctx, op)
		}
		if err := wr.Err(); err != nil {
			w.close()
			return wrap(ctx, op, err)
		}
		if wr.Created {
			return nil
		}
	}
}

// next waits for an event that satisfies match. It returns an error wrapping
// ctx.Err() if ctx ends and [dist.ErrSessionClosed] if the session ends (or
// the client closes) first.
//
// One response may carry several events (a transaction's, or a watch that
// replays history); those after the matching one are kept for the next
// call, not dropped with the response.
//
// If etcd compacted history the watch had not delivered yet (the client
// resumes a watch from the last revision it saw after a reconnection, and
// that revision may be long gone when the watched keys were quiet), next
// opens the watch again from the current revision and returns errRewatched:
// the caller reads the state again, as after a wake. (Failing instead made
// a waiter give up its place in line after a network blip on a cluster
// that compacts. Found by an adversarial review.)
func (w *watcher) next(ctx context.Context, op string, match func(*clientv3.Event) bool) error {
	for {
		for len(w.rest) > 0 {
			ev := w.rest[0]
			w.rest = w.rest[1:]
			if match(ev) {
				return nil
			}
		}
		wr, ok := <-w.wch
		if !ok {
			return endedErr(ctx, op)
		}
		if err := wr.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
				w.close()
				if err := w.open(ctx, op, clientv3.WithRev(0)); err != nil {
					return err
				}
				return errRewatched
			}
			return wrap(ctx, op, err)
		}
		w.rest = wr.Events
	}
}

func (w *watcher) close() {
	w.stop()
	w.cancel()
}

// endedErr is the error for a watch channel that closed: ctx ended, the
// session ended, or the client closed.
func endedErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: %s: %w", op, err)
	}
	return fmt.Errorf("etcd: %s: watch ended: %w", op, dist.ErrSessionClosed)
}

// remove deletes key if its create revision is still rev (any revision if
// rev is 0) and reports whether it did. It is the only way any recipe deletes
// a key it holds (giveUp deletes by name a key whose create revision it never
// learned, and which no one else ever creates): a retried or stale remove can
// never delete a newer holder's key (etcd's own Mutex.Unlock deletes by name,
// etcd-io/etcd#22082).
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

// cleanupTimeout bounds each try of the delete of a given-up waiter's key.
// If a try fails, the delete is tried again in the background (see
// Session.settle).
const cleanupTimeout = 5 * time.Second

// cleanupCtx is the context of a cleanup (cleanup, giveUp, withdraw): it
// keeps ctx's values, not its cancellation, since a cleanup runs because
// ctx ended, and it is bounded by cleanupTimeout. It ends when s's client
// closes: nothing reaches etcd through a closed client (the etcd client
// retries such a call for seconds before it fails it), and the keys go
// with the lease.
func (s *Session) cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	stop := context.AfterFunc(s.client.Ctx(), cancel)
	return cctx, func() { stop(); cancel() }
}

// cleanup deletes the key of an acquisition that failed or was cancelled. It
// runs even though ctx may be done (it keeps ctx's values, not its
// cancellation) so that no key is left behind to block the queue; if the
// delete fails, settle tries it again in the background.
func (s *Session) cleanup(ctx context.Context, key string, rev int64) {
	s.settle(ctx, func(cctx context.Context) error {
		_, err := s.remove(cctx, key, rev)
		return err
	})
}

// settle runs do, a cleanup's request, with a cleanup's context (see
// cleanupCtx), and when it fails runs it again in the background, backing
// off from 100ms to cleanupTimeout between tries, until it succeeds, the
// session ends or its lease is found gone (the keys bound to it are then
// gone or going), or its client closes. A refusal does not stop it: under
// the NOSPACE alarm a give-up, which puts a marker, goes through once an
// operator has freed space; a denied permission can be granted again. do
// must be safe to repeat.
//
// A key that a failed cleanup leaves is bound to the session's lease, and
// the session may live on for hours: once the key reached the front of its
// line, the session would hold the lock, place or permit with no call to
// release it, and every later waiter would wait for the session to end.
// (Until 2026-12-07 a failed cleanup was not tried again, and the key
// stayed until then.)
func (s *Session) settle(ctx context.Context, do func(context.Context) error) {
	cctx, cancel := s.cleanupCtx(ctx)
	err := do(cctx)
	cancel()
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.retry(ctx, do)
	}
}

// refused reports whether err is etcd's definite refusal of a request,
// which it did not apply (a transaction is applied whole or not at all): an
// error of etcd's own, sent by the server for the request itself, as a
// permission denied or, under the NOSPACE alarm, any request that puts.
// "Too many requests" is not one: it is etcd shedding load for a moment.
// An unreachable server, a call that timed out or was cancelled, etcd's
// "request timed out" (the proposal may still commit) and gRPC's own
// statuses (a reply over the client's size limit is ResourceExhausted
// after the request was applied) leave the outcome unknown. (Found by
// reviews, 2026-12-07: a join refused under NOSPACE was given up, and the
// give-up retried for as long as the alarm lasted; and a first version of
// this function took "too many requests" and gRPC's statuses for refusals.)
func refused(err error) bool {
	var ee rpctypes.EtcdError
	if !errors.As(err, &ee) || errors.Is(err, rpctypes.ErrTooManyRequests) {
		return false
	}
	switch ee.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.ResourceExhausted, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented,
		codes.Unauthenticated:
		return true
	}
	return false
}

// retry is settle's background half: it runs do again, backing off, until
// it succeeds, the session ends or its lease is gone, or its client closes.
func (s *Session) retry(ctx context.Context, do func(context.Context) error) {
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	if s.closing || s.alive("cleanup") != nil {
		return // the keys go with the lease
	}
	vctx := context.WithoutCancel(ctx) // ctx's values for the retries
	s.settling.Add(1)
	go func() {
		defer s.settling.Done()
		wait := 100 * time.Millisecond
		for {
			t := time.NewTimer(wait)
			select {
			case <-s.ctx().Done():
				t.Stop()
				return
			case <-s.client.Ctx().Done():
				t.Stop()
				return
			case <-t.C:
			}
			cctx, cancel := s.cleanupCtx(vctx)
			stop := context.AfterFunc(s.ctx(), cancel) // Close waits for this goroutine
			err := do(cctx)
			stop()
			cancel()
			if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return // done, or the lease is gone and its keys with it
			}
			wait = min(2*wait, cleanupTimeout)
		}
	}()
}

// givenUpKey is the marker of a join of key, under prefix, whose outcome
// its caller did not learn. It is under prefix + "\xff": inside the name's
// range (an etcd user granted exactly name + "/" must be able to read and
// write it; a marker outside, "\x00given-up" + key, had every join refused
// with "permission denied" under such a role. Found by an adversarial
// review), but outside the line, which every recipe reads and watches with
// inLine: the keys of a line continue prefix with a hex digit or '-'.
func givenUpKey(prefix, key string) string { return prefix + "\xff" + key[len(prefix):] }

// inLine ranges an op over the keys of the line under prefix: every key
// under prefix but the markers (see givenUpKey). Use it after any option
// that sets the range (WithPrefix, WithFirstCreate).
func inLine(prefix string) clientv3.OpOption { return clientv3.WithRange(prefix + "\xff") }

// giveUp deletes key, whose join failed without a reply, and in the same
// transaction puts its marker, so that the join, if it reaches etcd only
// now, is refused instead of leaving a key that no call owns in the line
// until the session ends. (A plain delete let a join applied after it
// block the lock for the session's lifetime. Found by an adversarial
// review.) The marker is bound to the session's lease: once that is gone,
// the put would be refused anyway. Like cleanup it runs even though ctx
// may be done, and a try that fails is repeated in the background (see
// settle).
//
// With keepCounted (a DoubleBarrier member), a key that an opening counted
// (marked with countedValue) is kept and giveUp returns its create
// revision: the join was applied and the caller is inside, as the members
// that entered counted it. (Deleting it let them compute without it, as
// withdraw once did. Found by an adversarial review.) Otherwise it
// returns 0.
func (s *Session) giveUp(ctx context.Context, prefix, key string, keepCounted bool) int64 {
	drop := func(cctx context.Context) error {
		_, err := s.client.Txn(cctx).Then(
			clientv3.OpDelete(key),
			clientv3.OpPut(givenUpKey(prefix, key), "", clientv3.WithLease(s.cs.Lease())),
		).Commit()
		if errors.Is(err, rpctypes.ErrNoSpace) {
			// Under the NOSPACE alarm etcd refuses every transaction
			// with a put, but takes deletes: take the key out of the
			// line now (it would hold up the waiters behind it for as
			// long as the alarm lasts), and put the marker when space
			// is freed (a late join is refused meanwhile too). (Found
			// by a review, 2026-12-07.)
			s.client.Delete(cctx, key)
		}
		return err
	}
	if !keepCounted {
		s.settle(ctx, drop)
		return 0
	}
	cctx, cancel := s.cleanupCtx(ctx)
	defer cancel()
	// A value comparison fails on a missing key: a join not applied yet
	// is refused as usual.
	counted := clientv3.Compare(clientv3.Value(key), "=", countedValue)
	get := clientv3.OpGet(key, clientv3.WithKeysOnly())
	resp, err := s.client.Txn(cctx).If(counted).Then(get).Else(
		clientv3.OpDelete(key),
		clientv3.OpPut(givenUpKey(prefix, key), "", clientv3.WithLease(s.cs.Lease())),
	).Commit()
	if errors.Is(err, rpctypes.ErrNoSpace) {
		// The marker's put makes NOSPACE refuse the whole transaction,
		// the branch that keeps a counted key included: decide with a
		// delete alone, and put the marker once space is freed.
		resp, err = s.client.Txn(cctx).If(counted).Then(get).Else(clientv3.OpDelete(key)).Commit()
		if err == nil && !resp.Succeeded {
			s.retry(ctx, drop)
			return 0
		}
	}
	if err != nil {
		// Outcome unknown, and the caller fails: its key must go, counted
		// or not. A counted key that stayed would hold up every member
		// that entered, in Leave, until the session ended, since a caller
		// whose Enter failed never leaves. (The members that entered have
		// counted one that left, which no retry can undo. Found by a
		// review, 2026-12-07: the retry kept a counted key.)
		s.retry(ctx, drop)
		return 0
	}
	if !resp.Succeeded {
		return 0
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return kvs[0].CreateRevision
	}
	return 0
}

// acquire takes one of the n places under prefix, waiting in line if
// needed, and deletes its key on failure.
func (s *Session) acquire(ctx context.Context, op, prefix, val string, n int) (entry, error) {
	e, placed, err := s.join(ctx, op, prefix, val, n, false)
	if err != nil || placed {
		return e, err
	}
	if err := s.waitTurn(ctx, op, prefix, e, n); err != nil {
		s.cleanup(ctx, e.key, e.rev)
		return entry{}, err
	}
	return e, nil
}

// tryAcquire takes one of the n places under prefix if it can at once,
// and otherwise deletes its key and returns busy.
func (s *Session) tryAcquire(ctx context.Context, op, prefix, val string, n int, busy error) (entry, error) {
	e, placed, err := s.join(ctx, op, prefix, val, n, false)
	if err != nil || placed {
		return e, err
	}
	s.cleanup(ctx, e.key, e.rev)
	return entry{}, fmt.Errorf("etcd: %s %s: %w", op, prefix, busy)
}

// join puts a new key under prefix, bound to s's lease, and reports in the
// same transaction whether it holds one of the n places: the uncontended
// path is one round trip.
//
// keepCounted is giveUp's (a DoubleBarrier member): a join that failed
// but was counted by an opening returns its entry and no error.
func (s *Session) join(ctx context.Context, op, prefix, val string, n int, keepCounted bool) (e entry, placed bool, err error) {
	if err := ctx.Err(); err != nil {
		return entry{}, false, fmt.Errorf("etcd: %s: %w", op, err)
	}
	if err := s.alive(op); err != nil {
		return entry{}, false, err
	}
	key := s.newKey(prefix)
	// The put is refused once the key has been given up (see giveUp): a
	// join can reach etcd after the cleanup its caller sent on failure.
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(givenUpKey(prefix, key)), "=", 0)).Then(
		clientv3.OpPut(key, val, clientv3.WithLease(s.cs.Lease())),
		clientv3.OpGet(prefix, inLine(prefix), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend),
			clientv3.WithLimit(int64(n))),
	).Commit()
	if err != nil {
		if refused(err) {
			// Nothing was put. (A give-up would be refused too where
			// the refusal is NOSPACE's, which refuses every put, and
			// retried for as long as the alarm lasts. Found by a review,
			// 2026-12-07.)
			return entry{}, false, wrap(ctx, op, err)
		}
		// The put may have been applied with the reply lost, or may still
		// be on its way: delete the key and forbid its put, or it would
		// block the line until the lease ends.
		if rev := s.giveUp(ctx, prefix, key, keepCounted); rev != 0 {
			return entry{key: key, rev: rev}, false, nil
		}
		return entry{}, false, wrap(ctx, op, err)
	}
	if !resp.Succeeded { // cannot happen: only giveUp creates the marker, after this call
		return entry{}, false, fmt.Errorf("etcd: %s %s: key given up before it was put", op, key)
	}
	e = entry{key: key, rev: resp.Header.Revision}
	// The first n keys by creation include e's (created in this very
	// transaction) exactly when fewer than n came before it.
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if kv.CreateRevision == e.rev {
			return e, true, nil
		}
	}
	return e, false, nil
}

// wrap returns err annotated with op, and an error that satisfies
// errors.Is(err, ctx.Err()) when ctx ended: the etcd client reports a
// cancelled call as a gRPC status, not as the ctx error. A write that etcd
// refused because the session's lease is gone is [dist.ErrSessionClosed],
// and so is a call cancelled while ctx lives: the client was closed (the
// etcd client fails such a call with a gRPC Canceled status, after retrying
// it for seconds; server-side errors come as etcd errors, never as that).
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("etcd: %s: %w", op, cerr)
	}
	if status.Code(err) == codes.Canceled {
		return fmt.Errorf("etcd: %s: client closed: %w (%w)", op, dist.ErrSessionClosed, err)
	}
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("etcd: %s: %w (%w)", op, dist.ErrSessionClosed, err)
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
