package etcd_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"google.golang.org/grpc"
)

// A member whose join reached etcd with its reply lost (here: its ctx
// ended while the reply was on its way) and that an opening counted
// meanwhile must not be given up behind the opener's back: the opener
// entered a barrier of n counting it, as in
// TestDoubleBarrierOpenBeatsCancelledEnter. withdraw refuses a counted key,
// but the join's own cleanup (giveUp) deleted it by name: B computed alone
// while A's Enter failed.
func TestDoubleBarrierCountedJoinWithLostReplyIsKept(t *testing.T) {
	srv := etcdtest.Start(t)
	const prefix = "/gu/members/"
	sb, _ := newSession(t, srv)
	b := etcd.NewDoubleBarrier(sb, "/gu", 2)
	actx, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	var armed atomic.Bool
	bErr := make(chan error, 1)
	ca := interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil && txnTouches(req, prefix, true) && armed.CompareAndSwap(true, false) {
			// A's join is applied; before its reply arrives, B opens the
			// barrier counting A, and A's ctx ends.
			bErr <- b.Enter(ctxTimeout(t, 10*time.Second))
			cancelA()
			return ctx.Err()
		}
		return err
	})
	armed.Store(true)
	enterCounted(t, srv, ca, b, "/gu", actx, &armed, bErr, "A's join was never intercepted")
}
