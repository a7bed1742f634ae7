package etcd

import "context"

// RetryUnlock sends Unlock's delete again for l, bypassing the local state,
// as a client whose first Unlock reply was lost would.
func RetryUnlock(ctx context.Context, l *Lock) (bool, error) {
	return l.s.remove(ctx, l.key, l.rev)
}

// JoinDoubleBarrier does the first half of d's Enter, the member key, and
// returns the second, the wait for the barrier to open, for tests that run
// something in between.
func JoinDoubleBarrier(ctx context.Context, d *DoubleBarrier) (wait func(context.Context) error, err error) {
	e, _, err := d.s.join(ctx, "enter", d.membersKey(), "", 1, true)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return d.waitReady(ctx, e) }, nil
}

// CleanupCtx is s.cleanupCtx: the context of a cleanup after ctx ended.
func CleanupCtx(s *Session, ctx context.Context) (context.Context, context.CancelFunc) {
	return s.cleanupCtx(ctx)
}
