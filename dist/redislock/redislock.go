// Package redislock is a lock on a single Redis server: an efficiency lock.
//
// Use it to keep two processes from doing the same work twice (a cache
// refresh, a report, a cron job), where an occasional overlap costs time but
// not correctness. Redis replication is asynchronous and a restart can lose
// the last writes, so after a failover two processes can hold the lock at
// once, and the fencing counter can go back. Where mutual exclusion must
// hold for correctness, use the etcd backend (package
// github.com/lockstep-go/lockstep/dist/etcd) and have the resource check the
// token; see the dist package documentation.
//
// The lock is the recipe from Redis's documentation, made atomic in Lua:
//
//   - Lock runs one script that sets the key to a random owner id with
//     SET NX PX (only if absent, expiring after the TTL) and, in the same
//     script, increments a fencing counter (INCR key:fence) whose value is
//     the lock's token;
//   - Unlock and the background refresh run compare-owner scripts: they
//     delete or extend the key only while it still holds this acquisition's
//     owner id, so a holder whose key expired can never release or extend
//     the next holder's lock.
//
// A waiting Lock subscribes to a release channel that Unlock publishes on,
// and also retries when the holder's TTL runs out (a crashed holder never
// publishes). Waiters are not queued: who gets the lock after a release is
// a race, not first come, first served.
//
// Redlock (the same lock on several independent servers) is deliberately not
// offered: it still cannot produce fencing tokens and still depends on
// clocks (Kleppmann, "How to do distributed locking", 2016), so it buys
// little over one server for efficiency and is not enough for correctness.
//
// A release also leaves, for a TTL, a small key (key + ":done:" + owner id)
// that makes the release idempotent under client retries and stops a late
// copy of a given-up acquisition. Both hold only within that TTL: a client
// that retries a command later than a TTL after sending it (go-redis
// retries one whose reply timed out, after its ReadTimeout, 3s by default,
// up to MaxRetries times) can see a release it made reported as
// [dist.ErrLockLost]. Keep the TTL above the client's retry window, or its
// ReadTimeout well below the TTL; the default TTL is.
//
// With Redis Cluster, give the lock a key with a hash tag ("{jobs}") so that
// the key, its fence counter (key + ":fence") and its done keys are in one
// slot. The fence counter is never deleted or expired; a maxmemory policy
// that evicts keys without a TTL (allkeys-*) can reset it.
package redislock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/redis/go-redis/v9"
)

// DefaultTTL is the TTL of a Mutex made without [WithTTL].
const DefaultTTL = 10 * time.Second

// KEYS[1] lock key, KEYS[2] fence counter, KEYS[3] the owner's done key;
// ARGV[1] owner id, ARGV[2] TTL ms.
// Returns {1, token} when acquired, {0, remaining TTL in ms} when held.
//
// A key that already holds ARGV[1] is this very acquisition, run again by
// a client that lost the first run's reply and retried it (go-redis retries
// a command that failed with io.EOF, by default): it is acquired, and its
// token is the counter's value, which no one can have incremented since,
// because every increment needs the key to be absent.
//
// An owner whose done key exists has been released (see releaseScript):
// this is a late copy of its acquisition, which reached Redis after the
// release that its caller sent when it gave up (a request delayed in the
// network, on a connection other than the release's). It must not take the
// key: nobody would hold it, and it would block everyone for a TTL.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then
	return {0, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return {1, redis.call('INCR', KEYS[2])}
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return {1, tonumber(redis.call('GET', KEYS[2]))}
end
return {0, redis.call('PTTL', KEYS[1])}
`)

// KEYS[1] lock key, KEYS[2] the owner's done key; ARGV[1] owner id,
// ARGV[2] release channel, ARGV[3] TTL ms.
// Returns 1 if the owner's key was deleted, by this run or by an earlier
// run of the same release, 0 if the key is not the owner's.
//
// The done key records, for a TTL, that the owner was released and whether
// its key was deleted then ('1') or not there ('0'). It makes the release
// idempotent: a run again by a client that lost the first run's reply and
// retried it (go-redis's default) returns what the first run did, where it
// found the key gone and reported the lock lost. And it stops a late copy
// of the owner's acquisition (see acquireScript).
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
	redis.call('PUBLISH', ARGV[2], '')
	return 1
end
if redis.call('GET', KEYS[2]) == '1' then
	return 1
end
redis.call('SET', KEYS[2], '0', 'PX', ARGV[3])
return 0
`)

// KEYS[1] lock key; ARGV[1] owner id, ARGV[2] TTL ms.
// Returns 1 if the owner's key was extended, 0 if it is not the owner's.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// A Mutex is a lock named by a Redis key. Every Mutex with the same key and
// server excludes every other, while each holder's key lives (see the
// package doc for what that is worth). A Mutex holds no state of its own
// and is safe for concurrent use; each acquisition is a [Lock].
type Mutex struct {
	client redis.UniversalClient
	key    string
	ttl    time.Duration
}

// Option configures [New].
type Option func(*Mutex)

// WithTTL sets how long the key outlives a holder that stops refreshing it
// (crashed, paused, cut off). Redis expires keys with millisecond precision;
// d is rounded up to a millisecond and must be at least 10ms.
func WithTTL(d time.Duration) Option {
	return func(m *Mutex) { m.ttl = d }
}

// New returns the mutex on key, on the server behind client. It panics if a
// TTL below 10ms is given.
func New(client redis.UniversalClient, key string, opts ...Option) *Mutex {
	if client == nil {
		panic("redislock: New with nil client")
	}
	m := &Mutex{client: client, key: key, ttl: DefaultTTL}
	for _, o := range opts {
		o(m)
	}
	// Rounded up, so that the TTL the client counts with is the one Redis
	// applies (it takes whole milliseconds).
	m.ttl = (m.ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	if m.ttl < 10*time.Millisecond {
		panic("redislock: TTL below 10ms")
	}
	m.ttl = m.ttl.Round(time.Millisecond)
	return m
}

// Key returns the lock's key.
func (m *Mutex) Key() string { return m.key }

func (m *Mutex) fenceKey() string { return m.key + ":fence" }
func (m *Mutex) channel() string  { return m.key + ":released" }

// doneKey is the key that records, for a TTL, that owner was released.
func (m *Mutex) doneKey(owner string) string { return m.key + ":done:" + owner }

// release runs the release script for owner.
func (m *Mutex) release(ctx context.Context, owner string) *redis.Cmd {
	return releaseScript.Run(ctx, m.client, []string{m.key, m.doneKey(owner)}, owner, m.channel(), m.ttl.Milliseconds())
}

// TryLock acquires the lock if it is free, in one round trip, and otherwise
// returns [dist.ErrLocked].
func (m *Mutex) TryLock(ctx context.Context) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redislock: trylock: %w", err)
	}
	l, _, err := m.try(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fmt.Errorf("redislock: trylock %s: %w", m.key, dist.ErrLocked)
	}
	return l, nil
}

// Lock blocks until the lock is acquired. It waits on the release channel,
// and on the holder's remaining TTL in case the holder died.
//
// If ctx ends first, Lock returns an error for which errors.Is(err,
// ctx.Err()) holds and leaves nothing behind: an acquisition whose reply was
// cut off by ctx is released again. A ctx that is already done fails at
// once.
func (m *Mutex) Lock(ctx context.Context) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redislock: lock: %w", err)
	}
	l, pttl, err := m.try(ctx) // fast path: no subscription when free
	if l != nil || err != nil {
		return l, err
	}
	// Subscribe before trying again (register, then re-check), so that a
	// release between the try and the wait is not missed: the
	// subscription's confirmation wakes the loop for a try, as a release
	// does, and so does a later one (a resubscription after go-redis
	// reconnected, when releases may have been missed).
	//
	// The first reply is read by a goroutine of its own while the loop
	// watches ctx (each point found by an adversarial review):
	//   - PubSub.Receive bounds its read by ctx's deadline, not by its
	//     cancellation: a cancelled Lock whose SUBSCRIBE went unanswered
	//     never returned. ps.Close ends the read.
	//   - A refusal (an ACL that denies SUBSCRIBE or the channel) fails
	//     Lock. ChannelWithSubscriptions drops receive errors, and the
	//     waiter woke only on its timer, up to a TTL after the release.
	//   - The read takes ctx itself: when the SUBSCRIBE's own dial failed,
	//     Receive dials again under the PubSub's mutex, which ps.Close
	//     waits for, and only ctx ends that dial.
	//   - Only a reply that came while ctx lives is handed over to
	//     ChannelWithSubscriptions, which redials with a context of its own.
	//   - That redial holds the PubSub's mutex too, and ps.Close waits for
	//     it: the close runs in the background (see closeSubscription).
	ps := m.client.Subscribe(ctx, m.channel())
	defer closeSubscription(ps)
	confirmed := make(chan error, 1)
	go func() {
		_, err := ps.Receive(ctx)
		confirmed <- err
	}()
	var msgs <-chan any           // once confirmed
	timer := time.NewTimer(m.ttl) // Reset below discards stale ticks (Go 1.23 timers)
	defer timer.Stop()
	for {
		// Try again on the next release or (re)subscription, or when the
		// holder's key expires (a crashed holder publishes nothing); a key
		// without a TTL (set by someone else) is polled once per TTL.
		timer.Reset(m.retryAfter(pttl))
		select {
		case err := <-confirmed:
			var rerr redis.Error
			if errors.As(err, &rerr) {
				return nil, wrap(ctx, "lock", err)
			}
			if err := ctx.Err(); err != nil { // the reply cut off by ctx
				return nil, fmt.Errorf("redislock: lock %s: %w", m.key, err)
			}
			if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				// The same at ctx's deadline: the read's deadline is
				// ctx's, and it fails before ctx's timer goroutine has
				// ended ctx (Err is nil until then).
				return nil, fmt.Errorf("redislock: lock %s: %w", m.key, context.DeadlineExceeded)
			}
			confirmed, msgs = nil, ps.ChannelWithSubscriptions()
		case _, ok := <-msgs:
			if !ok { // closed with ps, which outlives the loop: not expected
				msgs = nil
			}
		case <-timer.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("redislock: lock %s: %w", m.key, ctx.Err())
		}
		l, pttl, err = m.try(ctx)
		if l != nil || err != nil {
			return l, err
		}
	}
}

// closeSubscription closes ps in the background. Close takes the PubSub's
// mutex, which go-redis holds while it dials the subscription's connection
// again with a context of its own (after the hand-over to
// ChannelWithSubscriptions, when the connection broke): up to five tries of
// the client's DialTimeout each, 25s by default. Neither a cancelled Lock
// (rule 1 of the cancellation contract) nor one that has the lock waits
// for that; the close finishes when the dial does, and at once otherwise.
func closeSubscription(ps *redis.PubSub) {
	go ps.Close()
}

// retryAfter returns how long a waiter waits, without a release, before it
// tries again, given the holder's PTTL (ms) that its try returned.
//
// Redis expires a key once its clock is past the key's expiry millisecond,
// so a try in that millisecond finds the key with a PTTL of 0: the waiter
// tries again 1ms after the PTTL. (0 was taken for "no TTL", and a waiter
// that met that millisecond, about one in five on loopback, waited a whole
// TTL more for a free lock; found by an adversarial review.) A key without
// a TTL (-1) is polled once per TTL.
func (m *Mutex) retryAfter(pttl int64) time.Duration {
	if pttl < 0 {
		return m.ttl
	}
	return min(time.Duration(pttl)*time.Millisecond+time.Millisecond, m.ttl)
}

// try runs the acquire script once. It returns the lock, or the holder's
// remaining TTL in milliseconds.
func (m *Mutex) try(ctx context.Context) (*Lock, int64, error) {
	owner := newOwner()
	// The key's TTL starts when the script runs in Redis, before its reply
	// arrives: the lock's validity is measured from here, not from the
	// reply, or Lost would stay open for as long as the reply took after
	// the key had expired and another client could hold the lock.
	sent := time.Now()
	res, err := acquireScript.Run(ctx, m.client, []string{m.key, m.fenceKey(), m.doneKey(owner)}, owner, m.ttl.Milliseconds()).Int64Slice()
	if err != nil {
		// The script may have run with its reply lost: release what it
		// may have taken, so that nothing is left behind.
		m.cleanup(ctx, owner)
		return nil, 0, wrap(ctx, "lock", err)
	}
	if len(res) != 2 {
		return nil, 0, fmt.Errorf("redislock: lock %s: unexpected script reply %v", m.key, res)
	}
	if res[0] == 0 {
		return nil, res[1], nil
	}
	return m.held(owner, res[1], sent), 0, nil
}

const cleanupTimeout = 5 * time.Second

func (m *Mutex) cleanup(ctx context.Context, owner string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// The release also marks owner done, so that the acquisition, should
	// it reach Redis only now, does not take the key.
	m.release(cctx, owner)
}

func newOwner() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand doc)
	return hex.EncodeToString(b[:])
}

// wrap annotates err with op, and makes errors.Is(err, ctx.Err()) hold when
// ctx ended.
func wrap(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redislock: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redislock: %s: %w", op, err)
}

// A Lock is one acquisition of a [Mutex]. While it is held a background
// goroutine extends the key every TTL/3; Lost is closed when that fails for
// good. Unlock stops the goroutine.
type Lock struct {
	m     *Mutex
	owner string
	token int64

	acquired time.Time     // when the acquiring script was sent: the key's TTL runs from no earlier
	lost     chan struct{} // closed by the refresher when the lock is lost

	// The refresher's state. valid is written by the refresher and read
	// only after it has returned (a failed Unlock restarts it from there);
	// stop and refreshed are replaced only while no refresher runs.
	valid     time.Time          // the key lives at least until then
	due       time.Time          // when the next extension is due
	stop      context.CancelFunc // stops the running refresher
	refreshed chan struct{}      // closed when the refresher has returned

	mu       sync.Mutex // serializes Unlock; protects released
	released bool
}

func (m *Mutex) held(owner string, token int64, sent time.Time) *Lock {
	l := &Lock{m: m, owner: owner, token: token, acquired: sent, lost: make(chan struct{}),
		valid: sent.Add(m.ttl), due: sent.Add(m.ttl / 3)}
	l.startRefresh()
	return l
}

// startRefresh starts the refresher from l.valid and l.due.
func (l *Lock) startRefresh() {
	ctx, stop := context.WithCancel(context.Background())
	l.stop, l.refreshed = stop, make(chan struct{})
	go l.refresh(ctx)
}

// refresh extends the key every TTL/3 until ctx ends. It closes lost when
// the key is found to be someone else's (or gone), or when no extension
// has succeeded for a TTL, measured from when the last successful one (or
// the acquisition) was sent: by then the key has expired in Redis, or will
// before any reply.
//
// It closes lost at that moment even while an extension is in flight: the
// call's ctx deadline does not end it (go-redis bounds reads by its
// ReadTimeout, not by the ctx, unless the client sets
// ContextTimeoutEnabled), so waiting for the call kept Lost open for
// seconds after another client could hold the lock. Found by an
// adversarial review.
func (l *Lock) refresh(ctx context.Context) {
	defer close(l.refreshed)
	ttl := l.m.ttl
	interval := ttl / 3
	valid := l.valid // the key lives at least until then
	defer func() { l.valid = valid }()
	expired := time.NewTimer(max(0, time.Until(valid)))
	defer expired.Stop()
	// The first extension is due interval after the acquisition was sent
	// (at once, if its reply took longer than that), or, for a refresher
	// restarted by a failed Unlock, when the stopped one would have sent it.
	t := time.NewTimer(max(0, time.Until(l.due)))
	defer t.Stop()
	type result struct {
		ok  int
		err error
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-expired.C:
			close(l.lost) // could not extend in time: expired
			return
		case <-t.C:
		}
		sent := time.Now()
		cctx, cancel := context.WithDeadline(ctx, valid)
		done := make(chan result, 1)
		go func() {
			ok, err := extendScript.Run(cctx, l.m.client, []string{l.m.key}, l.owner, ttl.Milliseconds()).Int()
			done <- result{ok, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-expired.C:
			close(l.lost) // could not extend in time: expired
			cancel()
			<-done // the call outlives neither the refresher nor the Lock
			return
		case <-ctx.Done():
			cancel()
			<-done
			return
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case r.err == nil && r.ok == 1:
			valid = sent.Add(ttl)
			expired.Reset(time.Until(valid))
			l.due = time.Now().Add(interval)
			t.Reset(interval)
		case r.err == nil:
			close(l.lost) // not ours any more
			return
		case !time.Now().Before(valid):
			close(l.lost) // could not extend in time: expired
			return
		default:
			d := min(interval/4, time.Until(valid)) // transient: retry soon
			l.due = time.Now().Add(d)
			t.Reset(d)
		}
	}
}

// Token returns the fencing token: the value of the key's fence counter
// after this acquisition incremented it. It grows with every acquisition as
// long as the Redis server keeps its data (see the package doc).
func (l *Lock) Token() int64 { return l.token }

// Lost returns a channel that is closed when the lock is known to be lost:
// a refresh found the key gone or someone else's, or no refresh got through
// for a TTL. It is not closed by an Unlock that returns nil or
// ErrLockLost (after an Unlock that failed otherwise, the lock is still
// refreshed and Lost still reports its loss).
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Unlock stops the refresh and deletes the key if it still holds this
// acquisition's owner id, waking the waiters. If the key had expired (or
// was taken by another owner, who keeps it), Unlock returns
// [dist.ErrLockLost]; the lock is released either way.
//
// (A release whose reply was lost and that the client retried more than a
// TTL later also reports ErrLockLost: see the package doc.)
//
// If Unlock fails for another reason (ctx ended, Redis unreachable) the key
// may or may not have been deleted, and Unlock may be called again. The
// lock is then still refreshed, as if Unlock had not been called: if the
// key is in fact gone, the refresh finds out and Lost is closed. Calling
// Unlock again after it returned nil or ErrLockLost is a bug and panics.
func (l *Lock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		panic("redislock: Unlock of unlocked Lock")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redislock: unlock: %w", err)
	}
	l.stopRefresh()
	n, err := l.m.release(ctx, l.owner).Int()
	if err != nil {
		select {
		case <-l.lost: // the refresher gave up before it was stopped
		default:
			l.startRefresh() // still held, as far as we know: keep it alive
		}
		return wrap(ctx, "unlock", err)
	}
	l.released = true
	if n == 0 {
		return fmt.Errorf("redislock: unlock %s: %w", l.m.key, dist.ErrLockLost)
	}
	return nil
}

// stopRefresh stops the refresher and waits for it to return.
func (l *Lock) stopRefresh() {
	l.stop()
	<-l.refreshed
}
