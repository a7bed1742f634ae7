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

// ttl is the session TTL of sessions that a test lets die: the shortest
// etcd has. Sessions that must survive the test use liveTTL, so that a
// machine loaded enough to delay a keep-alive past 1s does not end them.
const (
	ttl     = time.Second
	liveTTL = 10 * time.Second
)

// margin bounds how much later than its TTL a dead holder is replaced: etcd
// revokes expired leases on a 500ms tick, and the -race detector on two
// busy cores slows everything.
const margin = 3 * time.Second

// newSession starts a session with liveTTL on a client of its own.
func newSession(t testing.TB, srv *etcdtest.Server) (*etcd.Session, *clientv3.Client) {
	t.Helper()
	return newSessionTTL(t, srv, liveTTL)
}

// newDyingSession starts a session with the short ttl on a client of its
// own, so that closing the client is a crash of the process that holds the
// session, noticed by etcd after ttl.
func newDyingSession(t testing.TB, srv *etcdtest.Server) (*etcd.Session, *clientv3.Client) {
	t.Helper()
	return newSessionTTL(t, srv, ttl)
}

func newSessionTTL(t testing.TB, srv *etcdtest.Server, d time.Duration) (*etcd.Session, *clientv3.Client) {
	t.Helper()
	c := srv.NewClient(t)
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, c
}

// keys returns the number of keys under prefix.
func keys(t testing.TB, c *clientv3.Client, prefix string) int64 {
	t.Helper()
	// The line only: not the markers of given-up joins (under prefix +
	// "\xff"), which a call whose ctx ended during its join leaves until its
	// session ends.
	resp, err := c.Get(context.Background(), prefix, clientv3.WithRange(prefix+"\xff"), clientv3.WithCountOnly())
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
