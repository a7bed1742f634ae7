package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultTTL is the lease TTL of a session made without [WithTTL]: how long
// the keys of a crashed process outlive it.
const DefaultTTL = 10 * time.Second

// A Session owns one etcd lease, kept alive in the background until Close
// or until the lease is lost. Every key that a lock, campaign, permit or
// barrier of the session creates is bound to the lease, so when the process
// dies (or is cut off from etcd for longer than the TTL) etcd deletes them
// and the next waiter proceeds.
//
// One session serves any number of locks, elections and semaphores, from
// any number of goroutines. A session is cheap on the server (one lease) but
// not free on the client (one keep-alive stream per client): make one per
// process or per role, not one per lock.
//
// A call that gives up (its ctx ended, or its join's reply was lost)
// deletes the key it queued with, so that no key of the session is left in
// a line with no call to release it. When etcd cannot be reached for that
// delete within 5s, the session tries it again in the background, backing
// off up to 5s between tries, until it gets through or the session ends;
// Close stops the tries and revokes the lease, which deletes the keys.
//
// The keep-alive is done by the etcd client's concurrency.Session; this type
// adds the ctx-first constructor, the Close that revokes, and the
// per-acquisition keys the recipes need.
type Session struct {
	client *clientv3.Client
	cs     *concurrency.Session
	ttl    time.Duration
	seq    atomic.Uint64 // makes each acquisition's key unique

	closeOnce sync.Once
	closeErr  error

	settleMu sync.Mutex     // guards closing, and orders settle's Add before Close's Wait
	closing  bool           // Close has begun: no more background cleanups
	settling sync.WaitGroup // cleanups retrying in the background (see settle)
}

// SessionOption configures [NewSession].
type SessionOption func(*sessionConfig)

type sessionConfig struct {
	ttl time.Duration
}

// WithTTL sets the lease TTL. etcd counts TTLs in whole seconds: d is rounded
// up, and d < 1s means 1s; the server grants no less than its minimum lease
// TTL (1.5 election timeouts), which [Session.TTL] then reports. The client
// refreshes the lease every TTL/3.
// A shorter TTL replaces a crashed holder sooner; a longer one rides out
// longer pauses and network outages without losing the lease.
func WithTTL(d time.Duration) SessionOption {
	return func(c *sessionConfig) { c.ttl = d }
}

// NewSession grants a lease on client and starts keeping it alive. The lease
// outlives ctx: ctx bounds only the grant. On failure nothing is left on the
// server (a lease granted before the failure is revoked). It panics if
// client is nil.
//
// The session does not own client: close the session before the client.
func NewSession(ctx context.Context, client *clientv3.Client, opts ...SessionOption) (*Session, error) {
	if client == nil {
		panic("etcd: NewSession with nil Client")
	}
	cfg := sessionConfig{ttl: DefaultTTL}
	for _, o := range opts {
		o(&cfg)
	}
	secs := int64(math.Ceil(cfg.ttl.Seconds()))
	secs = max(secs, 1)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd: new session: %w", err)
	}
	grant, err := client.Grant(ctx, secs)
	if err != nil {
		return nil, wrap(ctx, "new session", err)
	}
	// The server may grant more than was asked (at least its minimum
	// lease TTL, 1.5 election timeouts): keep-alives and TTL follow the
	// lease as granted.
	secs = max(grant.TTL, secs)
	cs, err := concurrency.NewSession(client, concurrency.WithLease(grant.ID), concurrency.WithTTL(int(secs)))
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(secs)*time.Second)
		client.Revoke(rctx, grant.ID) // best effort: the lease expires anyway
		cancel()
		return nil, wrap(ctx, "new session", err)
	}
	return &Session{client: client, cs: cs, ttl: time.Duration(secs) * time.Second}, nil
}

// Client returns the client the session was made on.
func (s *Session) Client() *clientv3.Client { return s.client }

// Lease returns the session's lease, for binding keys of your own to it.
func (s *Session) Lease() clientv3.LeaseID { return s.cs.Lease() }

// TTL returns the lease's TTL as the server granted it: the requested TTL
// rounded up to whole seconds, or the server's minimum lease TTL if that is
// longer.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done returns a channel that is closed when the session ends: after Close,
// or when the lease is lost (revoked, expired because keep-alives did not get
// through within the TTL, or the client closed). From then on the session's
// keys are gone or about to go, and every lock, leadership and permit of the
// session must be treated as lost.
//
// The client notices a lease that was revoked within about TTL/3 (its next
// keep-alive) and a server it cannot reach after the TTL, measured on the
// client's clock. Done can close later than the server expires the lease:
// the etcd client measures the TTL from each keep-alive's reply rather than
// its request, checks it once a second, and, until the first keep-alive
// reply arrives, allows its dial timeout plus a second. With a client cut
// off from the server, another process has been measured holding a lock
// 0.02-0.5 s before the cut-off holder's Lost closed (TTL 1 s; found by an
// adversarial review, 2026-12-06). That is why holders must pass their
// fencing token to the resource they protect rather than rely on Done (see
// the package dist doc); the tokens stay strictly increasing.
func (s *Session) Done() <-chan struct{} { return s.cs.Done() }

// Close stops the keep-alive and revokes the lease, so that every key of the
// session is deleted at once and its waiters proceed without waiting for the
// TTL. If ctx ends first the lease is left to expire after the TTL. Close is
// idempotent; later calls return the first call's result.
func (s *Session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.settleMu.Lock()
		s.closing = true
		s.settleMu.Unlock()
		s.cs.Orphan()     // stops the keep-alive goroutine and waits for it
		s.settling.Wait() // the session's end stops cleanups retrying in the background
		if s.client.Ctx().Err() != nil {
			return // client closed first: the lease expires after the TTL
		}
		_, err := s.client.Revoke(ctx, s.cs.Lease())
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) { // gone already: fine
			s.closeErr = wrap(ctx, "close session", err)
		}
	})
	return s.closeErr
}

// ctx returns a context that is done when the session ends.
func (s *Session) ctx() context.Context { return s.cs.Ctx() }

// newKey returns a key under prefix that no other acquisition ever uses: the
// lease ID names the session and a counter the acquisition. Distinct keys
// are what make a stale Unlock harmless: it can only ever name its own key.
func (s *Session) newKey(prefix string) string {
	return fmt.Sprintf("%s%x-%d", prefix, int64(s.cs.Lease()), s.seq.Add(1))
}

// alive reports ErrSessionClosed if the session has ended or its client
// is closed (the etcd client retries calls on a closed connection for
// seconds before it fails them).
func (s *Session) alive(op string) error {
	if s.client.Ctx().Err() != nil || s.cs.Ctx().Err() != nil {
		return fmt.Errorf("etcd: %s: %w", op, dist.ErrSessionClosed)
	}
	return nil
}
