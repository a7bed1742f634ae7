package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
)

// Three candidates; the leader's process dies, then the next resigns.
// Observe must report every leader in order, and every proclaimed value.
func TestElectionFailoverObserved(t *testing.T) {
	srv := etcdtest.Start(t)
	obsSession, oc := newSession(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obs := etcd.NewElection(obsSession, "/elect").Observe(ctx)

	names := []string{"a", "b", "c"}
	type cand struct {
		s    *etcd.Session
		kill func()
		lead chan *etcd.Leadership
	}
	cands := make([]cand, len(names))
	for i, name := range names {
		newS := newSession
		if i == 0 {
			newS = newDyingSession // its process dies below
		}
		s, c := newS(t, srv)
		cands[i] = cand{s, func() { c.Close() }, make(chan *etcd.Leadership, 1)}
		go func() {
			l, err := etcd.NewElection(s, "/elect").Campaign(ctxTimeout(t, 30*time.Second), name)
			if err != nil {
				t.Error(name, err)
				close(cands[i].lead)
				return
			}
			cands[i].lead <- l
		}()
		// Queue the candidates in order.
		eventually(t, 5*time.Second, "candidate queued", func() bool { return keys(t, oc, "/elect/") == int64(i+1) })
	}
	next := func() etcd.Leader {
		t.Helper()
		select {
		case l, ok := <-obs:
			if !ok {
				t.Fatal("Observe closed")
			}
			return l
		case <-time.After(ttl + margin):
			t.Fatal("Observe reported nothing")
		}
		return etcd.Leader{}
	}

	la := <-cands[0].lead
	if got := next(); got.Value != "a" || got.Token != la.Token() {
		t.Fatalf("observed %+v, want a with token %d", got, la.Token())
	}
	if err := la.Proclaim(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	if got := next(); got.Value != "a2" || got.Token != la.Token() {
		t.Fatalf("observed %+v, want a2", got)
	}
	cur, err := etcd.NewElection(obsSession, "/elect").Leader(ctx)
	if err != nil || cur.Value != "a2" {
		t.Fatalf("Leader = %+v, %v", cur, err)
	}

	// a's process dies: b takes over within the TTL.
	died := time.Now()
	cands[0].kill()
	var lb *etcd.Leadership
	select {
	case lb = <-cands[1].lead:
	case <-time.After(ttl + margin):
		t.Fatal("b did not take over")
	}
	t.Logf("failover after %v", time.Since(died))
	if got := next(); got.Value != "b" || got.Token != lb.Token() || lb.Token() <= la.Token() {
		t.Fatalf("observed %+v, want b with token %d > %d", got, lb.Token(), la.Token())
	}
	if err := la.Proclaim(ctx, "zombie"); err == nil {
		t.Fatal("dead leader's Proclaim succeeded")
	}

	// b resigns: c leads at once.
	if err := lb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lc := <-cands[2].lead
	if got := next(); got.Value != "c" || got.Token != lc.Token() {
		t.Fatalf("observed %+v, want c", got)
	}
	if err := lb.Proclaim(ctx, "b2"); !errors.Is(err, dist.ErrNotLeader) {
		t.Fatalf("Proclaim after Resign: %v, want ErrNotLeader", err)
	}
	if err := lc.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.NewElection(obsSession, "/elect").Leader(ctx); !errors.Is(err, dist.ErrNoLeader) {
		t.Fatalf("Leader with no candidates: %v, want ErrNoLeader", err)
	}
	cancel()
	for range obs { // closed once ctx ends
	}
}

// Leaders that lead only for an instant are still observed: Observe replays
// history instead of re-reading the current leader.
func TestObserveSeesEveryLeader(t *testing.T) {
	srv := etcdtest.Start(t)
	s, _ := newSession(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := etcd.NewElection(s, "/fast")
	first, err := e.Campaign(ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	obs := e.Observe(ctx)
	if got := <-obs; got.Value != "0" {
		t.Fatalf("first observed %+v", got)
	}
	// Resign and campaign again 20 times without reading the stream.
	const n = 20
	tokens := []int64{first.Token()}
	prev := first
	for i := 1; i <= n; i++ {
		if err := prev.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		if prev, err = e.Campaign(ctx, string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, prev.Token())
	}
	for i := 1; i <= n; i++ {
		got := <-obs
		if got.Token != tokens[i] || got.Value != string(rune('a'+i)) {
			t.Fatalf("leader %d observed as %+v, want token %d", i, got, tokens[i])
		}
	}
	prev.Resign(ctx)
}

func TestCampaignCancelLeavesNoKey(t *testing.T) {
	srv := etcdtest.Start(t)
	a, c := newSession(t, srv)
	b, _ := newSession(t, srv)
	la, err := etcd.NewElection(a, "/ec").Campaign(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = etcd.NewElection(b, "/ec").Campaign(ctxTimeout(t, 200*time.Millisecond), "b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign: %v, want DeadlineExceeded", err)
	}
	if n := keys(t, c, "/ec/"); n != 1 {
		t.Fatalf("%d keys after cancelled Campaign, want 1", n)
	}
	if err := la.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("second Resign did not panic")
		}
	}()
	la.Resign(context.Background())
}
