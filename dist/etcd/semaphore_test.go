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

func TestSemaphoreNeverAboveN(t *testing.T) {
	srv := etcdtest.Start(t)
	const n, workers = 3, 8
	iters := 8
	if testing.Short() {
		iters = 3
	}
	var inside, peak atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		s, _ := newSession(t, srv)
		sem := etcd.NewSemaphore(s, "/sem", n)
		wg.Go(func() {
			<-start
			for range iters {
				p, err := sem.Acquire(context.Background())
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				cur := inside.Add(1)
				for {
					old := peak.Load()
					if cur <= old || peak.CompareAndSwap(old, cur) {
						break
					}
				}
				if cur > n {
					t.Errorf("%d holders of %d permits", cur, n)
				}
				// Hold across a round trip so that holders overlap.
				if _, err := sem.Holders(context.Background()); err != nil {
					t.Error(err)
				}
				inside.Add(-1)
				if err := p.Release(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("peak holders %d of %d", peak.Load(), n)
}

func TestSemaphoreFreedWhenHolderDies(t *testing.T) {
	srv := etcdtest.Start(t)
	const n = 2
	var kill func()
	for i := range n {
		newS := newSession
		if i == 0 {
			newS = newDyingSession // its process dies below
		}
		s, c := newS(t, srv)
		if _, err := etcd.NewSemaphore(s, "/semdie", n).Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			kill = func() { c.Close() }
		}
	}
	w, wc := newSession(t, srv)
	sem := etcd.NewSemaphore(w, "/semdie", n)
	if _, err := sem.TryAcquire(context.Background()); !errors.Is(err, dist.ErrNoPermit) {
		t.Fatalf("TryAcquire with all permits held: %v, want ErrNoPermit", err)
	}
	if _, err := sem.Acquire(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire: %v, want DeadlineExceeded", err)
	}
	if k := keys(t, wc, "/semdie/"); k != n {
		t.Fatalf("%d keys after failed acquisitions, want %d", k, n)
	}
	got := make(chan error, 1)
	go func() {
		p, err := sem.Acquire(ctxTimeout(t, ttl+2*margin))
		if err == nil {
			err = p.Release(context.Background())
		}
		got <- err
	}()
	kill() // the first holder's process dies
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(ttl + margin):
		t.Fatal("permit of a dead holder not freed within TTL")
	}
	// The other holder still holds; one permit is free again.
	p, err := sem.TryAcquire(context.Background())
	if err != nil {
		t.Fatalf("TryAcquire with a free permit: %v", err)
	}
	if err := p.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSemaphoreFIFO(t *testing.T) {
	srv := etcdtest.Start(t)
	s, c := newSession(t, srv)
	sem := etcd.NewSemaphore(s, "/fifo", 2)
	ctx := context.Background()
	p1, err := sem.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := sem.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 3
	acquired := make(chan int, waiters)
	var release [waiters]chan struct{}
	var wg sync.WaitGroup
	for i := range waiters {
		release[i] = make(chan struct{})
		wg.Go(func() {
			p, err := sem.Acquire(ctx)
			if err != nil {
				t.Error(err)
				acquired <- -1
				return
			}
			acquired <- i
			<-release[i]
			p.Release(ctx)
		})
		eventually(t, 5*time.Second, "waiter queued", func() bool { return keys(t, c, "/fifo/") == int64(3+i) })
	}
	expect := func(want int) {
		t.Helper()
		select {
		case got := <-acquired:
			if got != want {
				t.Fatalf("waiter %d served, want %d (queue order)", got, want)
			}
		case <-time.After(margin):
			t.Fatalf("waiter %d not served", want)
		}
	}
	// Both permits are held: nobody may have been served yet.
	if p, err := sem.Holders(ctx); err != nil || p != 2 {
		t.Fatalf("Holders = %d, %v; want 2", p, err)
	}
	select {
	case i := <-acquired:
		t.Fatalf("waiter %d served while both permits were held", i)
	default:
	}
	p1.Release(ctx)
	expect(0)
	if _, err := sem.TryAcquire(ctx); !errors.Is(err, dist.ErrNoPermit) {
		t.Fatalf("TryAcquire past queued waiters: %v, want ErrNoPermit", err)
	}
	p2.Release(ctx)
	expect(1)
	close(release[0])
	expect(2)
	close(release[1])
	close(release[2])
	wg.Wait()
}
