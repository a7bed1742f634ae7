package dist_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
)

// store is a resource protected by a distributed lock: it refuses writes
// that carry a stale fencing token.
type store struct {
	fence dist.Fence
	data  string
}

func (s *store) Write(token int64, data string) error {
	if err := s.fence.Check(token); err != nil {
		return err
	}
	s.data = data
	return nil
}

// A holder whose lease ran out while it was paused comes back and writes:
// the store refuses, because its token is lower than the new holder's.
func Example_fencing() {
	srv, err := etcdtest.NewServer() // an etcd inside this process
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var res store

	slow, _ := etcd.NewSession(ctx, client)
	first, err := etcd.NewMutex(slow, "/locks/report").Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// The first holder stalls; its lease ends (here: we end it).
	slow.Close(ctx)

	fast, _ := etcd.NewSession(ctx, client)
	defer fast.Close(ctx)
	second, err := etcd.NewMutex(fast, "/locks/report").Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second holder writes:", res.Write(second.Token(), "fresh"))

	err = res.Write(first.Token(), "stale")
	fmt.Println("first holder's late write refused:", errors.Is(err, dist.ErrStaleToken))
	err = first.Unlock(ctx)
	fmt.Println("first holder's unlock:", errors.Is(err, dist.ErrLockLost))
	fmt.Println("data:", res.data)
	second.Unlock(ctx)
	// Output:
	// second holder writes: <nil>
	// first holder's late write refused: true
	// first holder's unlock: true
	// data: fresh
}

func ExampleFence() {
	var f dist.Fence
	fmt.Println(f.Check(7))  // holder with token 7
	fmt.Println(f.Check(7))  // the same holder writes again
	fmt.Println(f.Check(12)) // the lock's next holder
	fmt.Println(f.Check(7))  // the first holder, late
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// dist: stale fencing token: 7 < 12
}
