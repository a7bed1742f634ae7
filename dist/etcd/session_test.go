package etcd_test

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
)

// TestSessionTTLIsTheGrantedOne: a server grants at least its minimum
// lease TTL (1.5 election timeouts, rounded up to a second), so a session
// that asks for less holds a longer lease; TTL reports the lease's.
func TestSessionTTLIsTheGrantedOne(t *testing.T) {
	srv := etcdtest.Start(t, func(c *embed.Config) {
		c.TickMs, c.ElectionMs = 100, 1000 // shortest lease: 1.5 s, granted as 2 s
	})
	c := srv.NewClient(t)
	s, err := etcd.NewSession(context.Background(), c, etcd.WithTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ttl, err := c.TimeToLive(context.Background(), s.Lease())
	if err != nil {
		t.Fatal(err)
	}
	granted := time.Duration(ttl.GrantedTTL) * time.Second
	if granted <= time.Second {
		t.Fatalf("server granted %v for a 1s request; the test needs a longer minimum", granted)
	}
	if s.TTL() != granted {
		t.Fatalf("TTL() = %v, lease granted for %v", s.TTL(), granted)
	}
}
