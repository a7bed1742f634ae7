package dist

import "errors"

// Sentinel errors shared by the backends. Test for them with [errors.Is]; the
// backends wrap them with the name of the key involved.
//
// A call that fails because its ctx ended returns an error for which
// errors.Is(err, ctx.Err()) holds instead; those are not listed here.
var (
	// ErrLocked is returned by TryLock when another owner holds the lock.
	ErrLocked = errors.New("dist: locked by another owner")

	// ErrNoPermit is returned by a semaphore's TryAcquire when all permits
	// are held or others are queued ahead.
	ErrNoPermit = errors.New("dist: no permit available")

	// ErrLockLost is returned by Unlock and Release when the key is no
	// longer the caller's: its lease expired (the session died, or the
	// process paused for longer than the TTL) and the key was deleted,
	// possibly already re-acquired by another owner, who keeps it.
	ErrLockLost = errors.New("dist: lock lost (lease expired or key deleted)")

	// ErrSessionClosed is returned by calls on a session whose lease is gone:
	// closed by Close, revoked, expired, or its client closed.
	ErrSessionClosed = errors.New("dist: session closed or lease lost")

	// ErrNotLeader is returned by Proclaim and Resign when the caller's
	// campaign key is gone, so it no longer leads.
	ErrNotLeader = errors.New("dist: not the leader")

	// ErrNoLeader is returned by Leader when nobody is campaigning.
	ErrNoLeader = errors.New("dist: no leader")

	// ErrStaleToken is returned by [Fence.Check] for a token lower than one
	// it already admitted: the writer's lock has since passed to another
	// owner.
	ErrStaleToken = errors.New("dist: stale fencing token")
)
