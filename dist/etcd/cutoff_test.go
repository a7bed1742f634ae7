package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// readsKey reports whether req is a transaction whose first success op
// reads key.
func readsKey(req any, key string) bool {
	txn, ok := req.(*pb.TxnRequest)
	if !ok || len(txn.Success) == 0 {
		return false
	}
	r := txn.Success[0].GetRequestRange()
	return r != nil && string(r.Key) == key
}

// A member counted by an opener that dies at once enters: DoubleBarrier's
// waitReady watches from just after its member key so that the ready
// key's put, gone with its opener's lease, is still seen in the history.
// When that history is compacted while the member is cut off (its client
// resumes the watch from a compacted revision), the watch reopened from
// the current revision cannot show the put, and the reread finds no ready
// key and too few members: the member waited for a replacement that need
// never come, until its ctx ended, where before the reopen it failed at
// once. It was counted by an opening, so it must enter.
func TestDoubleBarrierCountedMemberEntersAfterCompactionAndReconnect(t *testing.T) {
	srv := etcdtest.Start(t)
	p := newProxy(t, srv)
	read := make(chan struct{}, 1) // a's waitReady has read the state
	ca := p.client(t, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil && readsKey(req, "/hang/ready") {
			select {
			case read <- struct{}{}:
			default:
			}
		}
		return err
	})
	a, err := etcd.NewSession(context.Background(), ca, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	b, cb := newSession(t, srv)

	const wait = 15 * time.Second
	entered := make(chan error, 1)
	go func() {
		entered <- etcd.NewDoubleBarrier(a, "/hang", 2).Enter(ctxTimeout(t, wait))
	}()
	// Once a has read the state (after its watch was opened), nothing but
	// its watch goes over the network until a put under the prefix.
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("a did not read the barrier's state within 5s")
	}

	p.setDown(true) // a is cut off
	// b enters, opening the barrier with a counted, and dies at once: the
	// ready key goes with b's lease. Then history is compacted.
	if err := etcd.NewDoubleBarrier(b, "/hang", 2).Enter(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	compactNow(t, cb)
	p.setDown(false) // a reconnects; its watch resumes from a compacted revision

	start := time.Now()
	select {
	case err := <-entered:
		if err != nil {
			t.Fatalf("member counted by the opening: Enter = %v after %v, want nil", err, time.Since(start))
		}
	case <-time.After(wait):
		t.Fatalf("member counted by the opening: Enter still waiting after %v", wait)
	}
}

// A Barrier waiter whose barrier is released and raised again while it is
// cut off, with the history compacted, was released: without the
// compaction its watch replays the deletion and Wait returns. The watch
// reopened from the current revision cannot show it, and the reread finds
// the barrier held (raised again), so the waiter waited for the next
// release, where before the reopen it failed at once. A barrier key of
// another create revision than the one it first read means a release came
// between.
func TestBarrierWaiterReleasedWhileCutOffReturns(t *testing.T) {
	srv := etcdtest.Start(t)
	p := newProxy(t, srv)
	read := make(chan struct{}, 1) // the waiter has read the barrier
	cw := p.client(t, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if r, ok := req.(*pb.RangeRequest); ok && err == nil && string(r.Key) == "/rehold" {
			select {
			case read <- struct{}{}:
			default:
			}
		}
		return err
	})
	w, err := etcd.NewSession(context.Background(), cw, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	a, ca := newSession(t, srv)
	ctx := context.Background()
	if err := etcd.NewBarrier(a, "/rehold").Hold(ctx); err != nil {
		t.Fatal(err)
	}
	const wait = 15 * time.Second
	got := make(chan error, 1)
	go func() { got <- etcd.NewBarrier(w, "/rehold").Wait(ctxTimeout(t, wait)) }()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not read the barrier within 5s")
	}
	p.setDown(true)
	if err := etcd.NewBarrier(a, "/rehold").Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := etcd.NewBarrier(a, "/rehold").Hold(ctx); err != nil {
		t.Fatal(err)
	}
	compactNow(t, ca)
	p.setDown(false)
	start := time.Now()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiter of a barrier released while it was cut off: Wait = %v after %v, want nil", err, time.Since(start))
		}
	case <-time.After(wait):
		t.Fatalf("waiter of a barrier released while it was cut off: still waiting after %v", wait)
	}
}
