package etcd

import "context"

// RetryUnlock sends Unlock's delete again for l, bypassing the local state,
// as a client whose first Unlock reply was lost would.
func RetryUnlock(ctx context.Context, l *Lock) (bool, error) {
	return l.s.remove(ctx, l.key, l.rev)
}
