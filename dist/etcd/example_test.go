package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
)

func ExampleMutex() {
	srv, err := etcdtest.NewServer() // a real etcd, inside this process
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sess, err := etcd.NewSession(ctx, client)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close(ctx)

	m := etcd.NewMutex(sess, "/locks/invoices")
	lock, err := m.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Pass lock.Token() with every write to the protected resource.
	fmt.Println("token > 0:", lock.Token() > 0)

	_, err = m.TryLock(ctx)
	fmt.Println("TryLock while held:", errors.Is(err, dist.ErrLocked))

	if err := lock.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	again, err := m.TryLock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next token is larger:", again.Token() > lock.Token())
	again.Unlock(ctx)
	// Output:
	// token > 0: true
	// TryLock while held: true
	// next token is larger: true
}

// Two candidates; the leader's session ends and the other takes over, as
// an observer sees.
func ExampleElection() {
	srv, err := etcdtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, _ := etcd.NewSession(ctx, client)
	b, _ := etcd.NewSession(ctx, client)
	defer b.Close(ctx)
	o, _ := etcd.NewSession(ctx, client)
	defer o.Close(ctx)

	leaderA, err := etcd.NewElection(a, "/election/scheduler").Campaign(ctx, "node-a")
	if err != nil {
		log.Fatal(err)
	}
	changes := etcd.NewElection(o, "/election/scheduler").Observe(ctx)
	fmt.Println("observed:", (<-changes).Value)

	won := make(chan *etcd.Leadership)
	go func() {
		l, err := etcd.NewElection(b, "/election/scheduler").Campaign(ctx, "node-b")
		if err != nil {
			log.Fatal(err)
		}
		won <- l
	}()

	a.Close(ctx) // node-a dies (or Resign)
	leaderB := <-won
	next := <-changes
	fmt.Println("observed:", next.Value, "with a larger token:", next.Token > leaderA.Token())
	leaderB.Resign(ctx)
	// Output:
	// observed: node-a
	// observed: node-b with a larger token: true
}

// At most two workers run a heavy job at a time, across all processes.
func ExampleSemaphore() {
	srv, err := etcdtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sess, err := etcd.NewSession(ctx, client)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close(ctx)

	sem := etcd.NewSemaphore(sess, "/sem/transcode", 2)
	var mu sync.Mutex
	running, peak := 0, 0
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			p, err := sem.Acquire(ctx)
			if err != nil {
				log.Fatal(err)
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			sem.Holders(ctx) // "work": one round trip while holding
			mu.Lock()
			running--
			mu.Unlock()
			p.Release(ctx)
		})
	}
	wg.Wait()
	fmt.Println("at most 2 at a time:", peak <= 2)
	// Output:
	// at most 2 at a time: true
}

// Workers wait until the others have loaded their part.
func ExampleLatch() {
	srv, err := etcdtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sess, err := etcd.NewSession(ctx, client)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close(ctx)

	loaded := etcd.NewLatch(sess, "/latch/shards-loaded", 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { // three loaders, in other processes in real life
			if err := etcd.NewLatch(sess, "/latch/shards-loaded", 3).CountDown(ctx); err != nil {
				log.Fatal(err)
			}
		})
	}
	if err := loaded.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	wg.Wait()
	n, _ := loaded.Count(ctx)
	fmt.Println("remaining:", n)
	// Output:
	// remaining: 0
}
