package etcd_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// interceptedClient returns a client of srv whose unary calls pass through
// ic first.
func interceptedClient(t *testing.T, srv *etcdtest.Server, ic grpc.UnaryClientInterceptor) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(ic)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// txnTouches reports whether a transaction request puts (put) or deletes
// (!put) a key under prefix in its success branch.
func txnTouches(req any, prefix string, put bool) bool {
	txn, ok := req.(*pb.TxnRequest)
	if !ok {
		return false
	}
	for _, op := range txn.Success {
		if p := op.GetRequestPut(); put && p != nil && bytes.HasPrefix(p.Key, []byte(prefix)) {
			return true
		}
		if d := op.GetRequestDeleteRange(); !put && d != nil && bytes.HasPrefix(d.Key, []byte(prefix)) {
			return true
		}
	}
	return false
}

// A member whose ctx ends while the barrier opens with it counted must not
// withdraw behind the opener's back: the opener (and everyone it counted)
// entered a barrier of n members, so the grant must be kept (the
// cancellation contract: a grant that races with cancellation is kept or
// passed on; DESIGN: a trip beats a cancellation that raced with it).
// Enter withdrew unconditionally: B entered a barrier of two with A, and A,
// counted, returned its ctx error and deleted its member key, so B computed
// alone. The interleaving is forced: A's ctx ends right after its join, and
// B opens the barrier just before A's withdrawal reaches etcd.
func TestDoubleBarrierOpenBeatsCancelledEnter(t *testing.T) {
	srv := etcdtest.Start(t)
	const prefix = "/race/members/"
	sb, _ := newSession(t, srv)
	b := etcd.NewDoubleBarrier(sb, "/race", 2)
	actx, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	var armed atomic.Bool
	bErr := make(chan error, 1)
	ca := interceptedClient(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if armed.Load() && txnTouches(req, prefix, false) && armed.CompareAndSwap(true, false) {
			// A is about to withdraw: B arrives first and opens, counting A.
			bErr <- b.Enter(ctxTimeout(t, 10*time.Second))
		}
		err := invoker(ctx, method, req, reply, cc, opts...)
		if txnTouches(req, prefix, true) {
			cancelA() // A's ctx ends just after its join
		}
		return err
	})
	armed.Store(true)
	enterCounted(t, srv, ca, b, "/race", actx, &armed, bErr, "A never tried to withdraw")
}

// enterCounted has A enter the 2-member DoubleBarrier name on client ca,
// whose interceptor, once armed, makes B (on bErr) open the barrier
// counting A at the moment under test; it fails t unless both are inside
// (A's Enter nil, both member keys there), and then both leave.
func enterCounted(t *testing.T, srv *etcdtest.Server, ca *clientv3.Client, b *etcd.DoubleBarrier, name string, actx context.Context, armed *atomic.Bool, bErr chan error, notIntercepted string) {
	t.Helper()
	sa, err := etcd.NewSession(context.Background(), ca, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close(context.Background()) })
	a := etcd.NewDoubleBarrier(sa, name, 2)
	aErr := a.Enter(actx)
	if armed.Load() {
		t.Fatal(notIntercepted)
	}
	if err := <-bErr; err != nil {
		t.Fatalf("B's Enter: %v", err)
	}
	_, c := newSession(t, srv)
	members := keys(t, c, name+"/members/")
	if aErr != nil || members != 2 {
		t.Fatalf("B entered a barrier of 2 counting A, but A's Enter returned %v and %d member(s) are in", aErr, members)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	lb := make(chan error, 1)
	go func() { lb <- b.Leave(ctx) }()
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-lb; err != nil {
		t.Fatal(err)
	}
}
