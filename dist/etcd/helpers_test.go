package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ttl is the session TTL of the tests: the shortest etcd has.
const ttl = time.Second

// margin bounds how much later than its TTL a dead holder is replaced: etcd
// revokes expired leases on a 500ms tick, and the -race detector on two
// busy cores slows everything.
const margin = 3 * time.Second

// newSession starts a session on a client of its own, so that closing the
// client is a crash of the process that holds the session.
func newSession(t testing.TB, srv *etcdtest.Server) (*etcd.Session, *clientv3.Client) {
	t.Helper()
	c := srv.NewClient(t)
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, c
}

// keys returns the number of keys under prefix.
func keys(t testing.TB, c *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// eventually polls cond until it holds or d passes: a liveness bound, not a
// synchronization.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func clientv3OpPut(k, v string) clientv3.Op { return clientv3.OpPut(k, v) }
