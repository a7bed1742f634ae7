package etcd_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockstep-go/lockstep/dist/etcd"
	"github.com/lockstep-go/lockstep/dist/etcd/etcdtest"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A join whose put was applied, its reply lost, is given up; if the
// NOSPACE alarm was raised in between (by anyone's put), the give-up
// (a delete and a marker put) is refused. It must be retried until the
// alarm is lifted: a version that stopped at the refusal left the key
// holding the lock for the rest of the session once the operator had
// disarmed the alarm.
func TestGiveUpRefusedByNospaceGoesThroughAfterDisarm(t *testing.T) {
	srv := etcdtest.Start(t)
	const name = "/full"
	ctx := context.Background()
	raise, disarm := nospaceAlarm(t, srv)
	a := sessionLosingAJoinReply(t, srv, name+"/", raise)
	if _, err := etcd.NewMutex(a, name).TryLock(ctxTimeout(t, 5*time.Second)); err == nil {
		t.Fatal("TryLock whose join's reply was lost returned a lock")
	}
	disarm() // the operator frees space
	bs, bc := newSession(t, srv)
	l, err := etcd.NewMutex(bs, name).Lock(ctxTimeout(t, 10*time.Second)) // liveness bound
	if err != nil {
		t.Fatalf("Lock after the alarm was lifted, behind a failed TryLock's applied join: %v (keys in line: %d)", err, keys(t, bc, name+"/"))
	}
	l.Unlock(ctx)
}

// A DoubleBarrier member's join is applied with its reply lost, its
// give-up fails, and Enter returns an error. Before the give-up's retry
// gets through, another member opens the barrier counting the failed one.
// A retry that kept the counted key (the first try's condition) left a
// key that no call owns: the failed member cannot Leave (Enter failed), so
// every member inside waited in Leave until the failed member's session
// ended.
func TestGiveUpRetryOfCountedJoinDoesNotBlockLeave(t *testing.T) {
	srv := etcdtest.Start(t)
	const name, members = "/orphan", "/orphan/members/"
	a, arm, release, retried := sessionHoldingARetry(t, srv, members, true)
	arm()
	if err := etcd.NewDoubleBarrier(a, name, 2).Enter(ctxTimeout(t, 5*time.Second)); err == nil {
		t.Fatal("Enter whose join's reply and give-up were lost returned nil")
	}
	openCountingAndLeave(t, srv, name, members, release, retried)
}

// The same through the withdrawal's retry: a member whose Enter was
// cancelled, its withdrawal (or, when the cancel met its join, its
// give-up) lost, counted by an opening before the retry gets through.
func TestWithdrawalRetryOfCountedMemberDoesNotBlockLeave(t *testing.T) {
	srv := etcdtest.Start(t)
	const name, members = "/orphan2", "/orphan2/members/"
	a, arm, release, retried := sessionHoldingARetry(t, srv, members, false)
	_, hc := newSession(t, srv)
	giveUpWaiting(t, "Enter", hc, members, 1, arm, etcd.NewDoubleBarrier(a, name, 2).Enter)
	openCountingAndLeave(t, srv, name, members, release, retried)
}

// sessionHoldingARetry returns a session on a client of its own whose
// first transaction deleting a key under members, once armed, is lost, and
// whose second (the background retry) is held until release is called,
// then sent, its error reported on retried. With loseJoinReply, arming
// also loses the reply of the next join under members, after applying it.
func sessionHoldingARetry(t *testing.T, srv *etcdtest.Server, members string, loseJoinReply bool) (s *etcd.Session, arm, release func(), retried <-chan error) {
	t.Helper()
	var joinArmed, armed atomic.Bool
	var tries atomic.Int32
	released := make(chan struct{})
	sent := make(chan error, 1)
	s = interceptedSession(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if txnTouches(req, members, true) && joinArmed.CompareAndSwap(true, false) {
			if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
				return err
			}
			return errors.New("test: the join's reply is lost")
		}
		if armed.Load() && txnDeletes(req, members) {
			switch tries.Add(1) {
			case 1:
				return errors.New("test: the delete is lost")
			case 2: // the background retry: held until the barrier opened
				select {
				case <-released:
				case <-ctx.Done():
					return ctx.Err()
				}
				err := invoker(ctx, method, req, reply, cc, opts...)
				sent <- err
				return err
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	arm = func() { joinArmed.Store(loseJoinReply); armed.Store(true) }
	return s, arm, sync.OnceFunc(func() { close(released) }), sent
}

// openCountingAndLeave has a second member enter the barrier of two under
// name, opening it with the failed member's key counted, then lets the
// failed member's retried delete through and checks that the member inside
// can Leave: the key must go although it was counted.
func openCountingAndLeave(t *testing.T, srv *etcdtest.Server, name, members string, release func(), retried <-chan error) {
	t.Helper()
	bs, bc := newSession(t, srv)
	b := etcd.NewDoubleBarrier(bs, name, 2)
	if err := b.Enter(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err) // opens the barrier, counting the failed member's key
	}
	release()
	select {
	case err := <-retried:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // liveness bound
		t.Fatal("the failed member's delete was not retried")
	}
	if err := b.Leave(ctxTimeout(t, 5*time.Second)); err != nil { // liveness bound
		t.Fatalf("Leave of the member inside: %v (member keys: %d; the failed member never Leaves)", err, keys(t, bc, members))
	}
}

// ResourceExhausted is also what gRPC itself reports, client side, for a
// reply over the client's MaxCallRecvMsgSize: the request was applied.
// A first version of refused() took it for etcd's refusal, so join
// skipped the give-up and the applied key stayed in line, bound to the
// live session.
func TestJoinWhoseReplyIsTooLargeIsGivenUp(t *testing.T) {
	srv := etcdtest.Start(t)
	const name = "/sem"
	ctx := context.Background()
	hs, hc := newSession(t, srv)
	sem := etcd.NewSemaphore(hs, name, 50)
	for range 40 {
		if _, err := sem.Acquire(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		MaxCallSendMsgSize: 512, MaxCallRecvMsgSize: 512,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := etcd.NewSession(ctx, c, etcd.WithTTL(liveTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	_, err = etcd.NewSemaphore(a, name, 50).TryAcquire(ctxTimeout(t, 5*time.Second))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("TryAcquire whose reply lists 41 keys, on a client that takes 512 bytes = %v, want ResourceExhausted from gRPC", err)
	}
	eventually(t, 5*time.Second, "the applied join of the failed TryAcquire is deleted", func() bool { return keys(t, hc, name+"/") == 40 })
}

// nospaceAlarm returns functions that raise and lift etcd's NOSPACE alarm.
func nospaceAlarm(t *testing.T, srv *etcdtest.Server) (raise func() error, disarm func()) {
	t.Helper()
	ctx := context.Background()
	admin := srv.NewClient(t)
	st, err := admin.Status(ctx, srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	req := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: st.Header.MemberId, Alarm: pb.AlarmType_NOSPACE}
	raise = func() error {
		_, err := pb.NewMaintenanceClient(admin.ActiveConnection()).Alarm(ctx, req)
		return err
	}
	disarm = func() {
		admin.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: st.Header.MemberId, Alarm: pb.AlarmType_NOSPACE})
	}
	t.Cleanup(disarm)
	return raise, disarm
}

// sessionLosingAJoinReply returns a session on a client of its own whose
// first join under prefix is applied, then meanwhile runs, then the join's
// reply is lost (unless meanwhile failed: then its error is the reply).
func sessionLosingAJoinReply(t *testing.T, srv *etcdtest.Server, prefix string, meanwhile func() error) *etcd.Session {
	t.Helper()
	var joined atomic.Bool
	s := interceptedSession(t, srv, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if txnTouches(req, prefix, true) && joined.CompareAndSwap(false, true) {
			if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
				return err
			}
			if err := meanwhile(); err != nil {
				return err
			}
			return errors.New("test: the join's reply is lost")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	return s
}

// A join applied with its reply lost; a waiter queues behind it; the
// NOSPACE alarm is raised; the give-up (delete + marker put) is refused
// and retried until an operator disarms. etcd takes deletes under NOSPACE
// (the holder's Unlock goes through), so the given-up key must go at once:
// it held the lock, with no call to release it, and the waiter behind it
// waited for the alarm to be lifted. (Found by a review, 2026-12-07.)
func TestGiveUpRefusedByNospaceFreesTheLine(t *testing.T) {
	srv := etcdtest.Start(t)
	const name = "/fullline"
	raise, _ := nospaceAlarm(t, srv)
	hs, hc := newSession(t, srv)
	holder, err := etcd.NewMutex(hs, name).Lock(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := newSession(t, srv)
	wctx := ctxTimeout(t, 8*time.Second) // liveness bound
	waiter := make(chan error, 1)
	a := sessionLosingAJoinReply(t, srv, name+"/", func() error {
		go func() {
			l, err := etcd.NewMutex(ws, name).Lock(wctx)
			if err == nil {
				defer l.Unlock(context.Background())
			}
			waiter <- err
		}()
		eventually(t, 5*time.Second, "a waiter queues behind the applied join", func() bool { return keys(t, hc, name+"/") == 3 })
		return raise()
	})
	if _, err := etcd.NewMutex(a, name).TryLock(ctxTimeout(t, 5*time.Second)); err == nil {
		t.Fatal("TryLock whose join's reply was lost returned a lock")
	}
	if err := holder.Unlock(context.Background()); err != nil { // a delete: taken under NOSPACE
		t.Fatalf("Unlock under NOSPACE: %v", err)
	}
	if err := <-waiter; err != nil {
		t.Fatalf("waiter behind a given-up key, holder gone, alarm still raised: %v (keys in line: %d)", err, keys(t, hc, name+"/"))
	}
}

// A DoubleBarrier member's join is applied with its reply lost, and
// another member opens the barrier counting it; then the NOSPACE alarm is
// raised. The give-up's first try (If counted Then get Else delete+put)
// would keep the counted key, but etcd's capped applier refuses any txn
// with a put in either branch: the try was refused, Enter failed though
// the member was counted, and the retry deleted the counted key once space
// was freed; meanwhile the member inside waited in Leave for it. (Found by
// a review, 2026-12-07.)
func TestCountedMembersGiveUpUnderNospaceKeepsIt(t *testing.T) {
	srv := etcdtest.Start(t)
	const name, members = "/fullbarrier", "/fullbarrier/members/"
	raise, _ := nospaceAlarm(t, srv)
	bs, bc := newSession(t, srv)
	b := etcd.NewDoubleBarrier(bs, name, 2)
	a := sessionLosingAJoinReply(t, srv, members, func() error {
		if err := b.Enter(ctxTimeout(t, 5*time.Second)); err != nil { // opens, counting this join
			return err
		}
		return raise()
	})
	da := etcd.NewDoubleBarrier(a, name, 2)
	aLeft := make(chan error, 1)
	if err := da.Enter(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Errorf("Enter of a member the opening counted, its join's reply lost, under NOSPACE = %v, want nil", err)
		aLeft <- nil
	} else {
		go func() { aLeft <- da.Leave(ctxTimeout(t, 3*time.Second)) }()
	}
	if err := b.Leave(ctxTimeout(t, 3*time.Second)); err != nil { // liveness bound
		t.Errorf("Leave of the member inside: %v (member keys: %d)", err, keys(t, bc, members))
	}
	if err := <-aLeft; err != nil {
		t.Errorf("Leave of the member whose join's reply was lost: %v", err)
	}
}
