package etcd_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
)

func TestBarrier(t *testing.T) {
	srv := etcdtest.Start(t)
	h, _ := newSession(t, srv)
	ctx := context.Background()
	b := etcd.NewBarrier(h, "/gate")
	if err := b.Wait(ctx); err != nil {
		t.Fatalf("Wait on a lowered barrier: %v", err)
	}
	if err := b.Hold(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Hold(ctx); err != nil {
		t.Fatalf("second Hold: %v", err)
	}
	if err := etcd.NewBarrier(h, "/gate").Wait(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a held barrier: %v, want DeadlineExceeded", err)
	}
	var released atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		s, _ := newSession(t, srv)
		wg.Go(func() {
			if err := etcd.NewBarrier(s, "/gate").Wait(ctxTimeout(t, 10*time.Second)); err != nil {
				t.Error(err)
			}
			if !released.Load() {
				t.Error("Wait returned before Release")
			}
		})
	}
	released.Store(true)
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// A holder that dies releases the barrier after its TTL.
	d, dc := newDyingSession(t, srv)
	if err := etcd.NewBarrier(d, "/gate2").Hold(ctx); err != nil {
		t.Fatal(err)
	}
	dc.Close()
	if err := etcd.NewBarrier(h, "/gate2").Wait(ctxTimeout(t, ttl+margin)); err != nil {
		t.Fatalf("barrier of a dead holder: %v", err)
	}
}

func TestDoubleBarrier(t *testing.T) {
	srv := etcdtest.Start(t)
	const n = 3
	var entering, leaving atomic.Int32
	var wg sync.WaitGroup
	for range n {
		s, _ := newSession(t, srv)
		db := etcd.NewDoubleBarrier(s, "/double", n)
		wg.Go(func() {
			ctx := ctxTimeout(t, 20*time.Second)
			entering.Add(1)
			if err := db.Enter(ctx); err != nil {
				t.Error(err)
				return
			}
			if got := entering.Load(); got != n {
				t.Errorf("entered with %d of %d members", got, n)
			}
			leaving.Add(1)
			if err := db.Leave(ctx); err != nil {
				t.Error(err)
				return
			}
			if got := leaving.Load(); got != n {
				t.Errorf("left while only %d of %d had", got, n)
			}
		})
	}
	wg.Wait()
	s, c := newSession(t, srv)
	if k := keys(t, c, "/double/"); k != 0 {
		t.Fatalf("%d keys left after the round", k)
	}
	// A member cancelled in Enter withdraws: the count does not include it.
	db := etcd.NewDoubleBarrier(s, "/double2", 2)
	if err := db.Enter(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enter alone: %v, want DeadlineExceeded", err)
	}
	if k := keys(t, c, "/double2/"); k != 0 {
		t.Fatalf("%d keys left after cancelled Enter", k)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("Leave without Enter did not panic")
		}
	}()
	etcd.NewDoubleBarrier(s, "/double3", 1).Leave(context.Background())
}

// A member counted when the barrier opened enters even if the opener's
// session ends, taking the ready key with it, before the member first
// looks: it used to watch only from that look on, and waited for a
// replacement member that need never come.
func TestDoubleBarrierCountedMemberEntersAfterOpenerDies(t *testing.T) {
	srv := etcdtest.Start(t)
	sx, _ := newSession(t, srv)
	sy, _ := newSession(t, srv)
	ctx := ctxTimeout(t, 20*time.Second)
	x := etcd.NewDoubleBarrier(sx, "/opener", 2)
	y := etcd.NewDoubleBarrier(sy, "/opener", 2)
	wait, err := etcd.JoinDoubleBarrier(ctx, y) // y's member key
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Enter(ctx); err != nil { // opens, counting y
		t.Fatal(err)
	}
	if err := sx.Close(ctx); err != nil { // x's keys go, the ready key too
		t.Fatal(err)
	}
	if err := wait(ctx); err != nil {
		t.Fatalf("a counted member's Enter after the opener died: %v, want nil", err)
	}
}

func TestLatch(t *testing.T) {
	srv := etcdtest.Start(t)
	const count = 3
	s, _ := newSession(t, srv)
	ctx := context.Background()
	l := etcd.NewLatch(s, "/latch", count)
	if err := l.Wait(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait before countdown: %v, want DeadlineExceeded", err)
	}
	var counted atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		w, _ := newSession(t, srv)
		wg.Go(func() {
			if err := etcd.NewLatch(w, "/latch", count).Wait(ctxTimeout(t, 10*time.Second)); err != nil {
				t.Error(err)
			}
			if got := counted.Load(); got != count {
				t.Errorf("Wait returned after %d of %d CountDowns", got, count)
			}
		})
	}
	for i := range count {
		d, _ := newSession(t, srv)
		if i == count-1 {
			counted.Add(1) // before the last CountDown can release anyone
			if err := etcd.NewLatch(d, "/latch", count).CountDown(ctx); err != nil {
				t.Fatal(err)
			}
			break
		}
		if err := etcd.NewLatch(d, "/latch", count).CountDown(ctx); err != nil {
			t.Fatal(err)
		}
		counted.Add(1)
		if got, err := l.Count(ctx); err != nil || got != count-1-i {
			t.Fatalf("Count = %d, %v; want %d", got, err, count-1-i)
		}
	}
	wg.Wait()
	if err := l.CountDown(ctx); err != nil {
		t.Fatalf("CountDown at zero: %v", err)
	}
	if got, _ := l.Count(ctx); got != 0 {
		t.Fatalf("Count after extra CountDown = %d", got)
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Count(ctx); got != count {
		t.Fatalf("Count after Delete = %d, want %d", got, count)
	}
}

func TestSessionClose(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.NewClient(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := etcd.NewSession(done, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("NewSession with done ctx: %v", err)
	}
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if s.TTL() != 2*time.Second {
		t.Fatalf("TTL %v, want 2s (rounded up)", s.TTL())
	}
	if _, err := etcd.NewMutex(s, "/sc").Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if n := keys(t, c, "/sc/"); n != 0 {
		t.Fatalf("%d keys after Close, want 0 (lease revoked)", n)
	}
	if err := etcd.NewBarrier(s, "/b").Hold(context.Background()); !errors.Is(err, dist.ErrSessionClosed) {
		t.Fatalf("Hold on closed session: %v", err)
	}
}

// TestDoubleBarrierLeaveWithDoneCtx: a Leave whose ctx is already done
// fails and changes nothing (the cancellation contract): the member is
// still in the barrier, the others still wait for it, and Leave may be
// called again.
func TestDoubleBarrierLeaveWithDoneCtx(t *testing.T) {
	srv := etcdtest.Start(t)
	sa, c := newSession(t, srv)
	sb, _ := newSession(t, srv)
	a := etcd.NewDoubleBarrier(sa, "/dl", 2)
	b := etcd.NewDoubleBarrier(sb, "/dl", 2)
	ctx := ctxTimeout(t, 20*time.Second)
	entered := make(chan error, 1)
	go func() { entered <- b.Enter(ctx) }()
	if err := a.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Leave(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Leave with a done ctx: %v, want Canceled", err)
	}
	if k := keys(t, c, "/dl/members/"); k != 2 {
		t.Fatalf("%d member keys after a failed Leave, want 2", k)
	}
	left := make(chan error, 1)
	go func() { left <- b.Leave(ctx) }()
	if err := a.Leave(ctx); err != nil { // again, now for real
		t.Fatal(err)
	}
	if err := <-left; err != nil {
		t.Fatal(err)
	}
	if k := keys(t, c, "/dl/"); k != 0 {
		t.Fatalf("%d keys left after the round", k)
	}
}
