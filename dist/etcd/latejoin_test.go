package etcd_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"google.golang.org/grpc"
)

// A Lock whose ctx ends while its join (the put of its waiting key) is on
// its way must leave nothing behind (the dist doc: "the call leaves nothing
// behind"). Lock deletes the key after the failure, by name, in case the put
// was applied with its reply lost. But the put can also be applied after
// that delete: it was sent before it, and etcd handles requests
// concurrently (a follower forwards its proposal to the leader while the
// client's delete goes to the leader directly, or the put's handler is
// simply scheduled late). The interceptor forces that order: the join is
// held back until the cleanup's delete has been applied, then sent. The key
// then sat in the queue bound to the live session's lease, owned by no
// call: nobody could take the lock until that session ended.
func TestCancelledLockLateJoinLeavesNoKey(t *testing.T) {
	srv := etcdtest.Start(t)
	const prefix = "/late/"
	var armed atomic.Bool
	cleaned := make(chan struct{}) // the cleanup's delete has been applied
	joined := make(chan error, 1)  // the held-back join, sent after it
	ca := interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if txnTouches(req, prefix, true) && armed.CompareAndSwap(true, false) {
			// The request is out: it reaches etcd after whatever the caller
			// sends once it has given up on it.
			go func() {
				<-cleaned
				ictx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				joined <- invoker(ictx, method, req, reply, cc, opts...)
			}()
			<-ctx.Done()
			return ctx.Err()
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if txnTouches(req, prefix, false) {
			select {
			case <-cleaned:
			default:
				close(cleaned)
			}
		}
		return err
	})
	sa, err := etcd.NewSession(context.Background(), ca, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close(context.Background()) })
	sb, c := newSession(t, srv)

	armed.Store(true)
	_, err = etcd.NewMutex(sa, prefix).Lock(ctxTimeout(t, 300*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want DeadlineExceeded", err)
	}
	select {
	case <-cleaned:
	default:
		t.Fatal("the cancelled Lock sent no cleanup")
	}
	jerr := <-joined // the late join has been answered: applied or refused
	if n := keys(t, c, prefix); n != 0 {
		t.Fatalf("%d key(s) left under %s after a cancelled Lock (the late join returned %v)", n, prefix, jerr)
	}
	l, err := etcd.NewMutex(sb, prefix).TryLock(context.Background())
	if err != nil {
		t.Fatalf("TryLock after a cancelled Lock: %v", err)
	}
	if err := l.Unlock(context.Background()); err != nil && !errors.Is(err, dist.ErrLockLost) {
		t.Fatal(err)
	}
}
