package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	"go.uber.org/goleak"
)

func TestStartPutGet(t *testing.T) {
	defer goleak.VerifyNone(t)
	t0 := time.Now()
	s := etcdtest.Start(t)
	t.Logf("ready in %v at %s", time.Since(t0), s.Endpoint)
	c := s.NewClient(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
	s.Close()
}
