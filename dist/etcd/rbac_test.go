package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A Mutex's keys are "created under name + "/"" (NewMutex's doc), so an
// etcd user whose role grants read-write on exactly that range (etcd RBAC,
// the usual way to share a cluster between tenants) can lock. The join's
// transaction compares a marker key outside every name's prefix
// ("\x00given-up" + key), and etcd checks a transaction's comparisons
// against the user's permissions: every Lock, TryLock, Campaign and
// Acquire was refused with "permission denied".
func TestLockWithPermissionOnItsNameOnly(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	admin := srv.NewClient(t)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.RoleAdd(ctx, "root"))
	must(admin.UserAdd(ctx, "root", "rootpw"))
	must(admin.UserGrantRole(ctx, "root", "root"))
	must(admin.RoleAdd(ctx, "app"))
	must(admin.RoleGrantPermission(ctx, "app", "/app/", clientv3.GetPrefixRangeEnd("/app/"), clientv3.PermissionType(clientv3.PermReadWrite)))
	must(admin.UserAdd(ctx, "app", "apppw"))
	must(admin.UserGrantRole(ctx, "app", "app"))
	must(admin.AuthEnable(ctx))

	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		Username:    "app",
		Password:    "apppw",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := etcd.NewSession(ctx, c, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })

	m := etcd.NewMutex(s, "/app/lock")
	l, err := m.TryLock(ctx)
	if err != nil {
		t.Fatalf("TryLock with read-write on %s: %v", m.Name(), err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	l, err = m.Lock(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatalf("Lock with read-write on %s: %v", m.Name(), err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
