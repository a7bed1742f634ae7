package waitq_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/waitq"
)

// brokenCtx is a custom Context whose Done channel is closed while Err
// still reports nil (a Context that breaks the contract, or one that closes
// Done before it records its error).
type brokenCtx struct {
	context.Context
	done chan struct{}
}

func (c brokenCtx) Done() <-chan struct{} { return c.done }
func (c brokenCtx) Err() error            { return nil }

// An adversarial review: a waiter whose ctx's Done fires while its Err is still nil is
// unlinked (and abandon runs), yet Wait returned nil, the value that means
// "you were woken, what was handed to you is yours". The caller then acts
// on a grant nobody made (mutex: owns mutexWoken it never got; Fair: holds
// a lock that is held by someone else). Wait must not report success for
// a waiter it took out of the queue.
func TestAbandonedWaitNeverReportsSuccess(t *testing.T) {
	ctx := brokenCtx{Context: context.Background(), done: make(chan struct{})}
	close(ctx.done)
	var mu sync.Mutex
	var q waitq.Queue
	mu.Lock()
	w := q.Enqueue(1)
	abandoned := false
	err := q.Wait(ctx, &mu, w, func(bool) { abandoned = true })
	if abandoned && err == nil {
		t.Fatal("Wait unlinked the waiter and ran abandon, but returned nil (success)")
	}
	if !abandoned && err != nil {
		t.Fatalf("Wait = %v without abandoning the waiter", err)
	}
	if q.Len() != 0 && abandoned {
		t.Fatal("abandoned waiter left in the queue")
	}
}

// errList is an error type that is not comparable (a slice field), as
// multi-errors often are.
type errList struct{ errs []error }

func (e errList) Error() string { return "errlist" }

type uncomparableErrCtx struct {
	context.Context
	done chan struct{}
}

func (c uncomparableErrCtx) Done() <-chan struct{} { return c.done }
func (c uncomparableErrCtx) Err() error {
	select {
	case <-c.done:
		return errList{errs: []error{context.Canceled}}
	default:
		return nil
	}
}

// An adversarial review: Err compared cause != err with ==, which panics at run time
// ("comparing uncomparable type") when a custom Context's Err (and so
// context.Cause, which falls back to it) has an uncomparable dynamic type.
func TestErrWithUncomparableError(t *testing.T) {
	ctx := uncomparableErrCtx{Context: context.Background(), done: make(chan struct{})}
	close(ctx.done)
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Err panicked: %v", r)
			}
		}()
		err = waitq.Err(ctx)
	}()
	if err == nil {
		t.Fatal("Err of a done ctx is nil")
	}
	var el errList
	if !errors.As(err, &el) {
		t.Fatalf("Err = %v does not carry ctx.Err()", err)
	}
}

// Err against every kind of context the contract names.
func TestErrMatchesEveryContextKind(t *testing.T) {
	cause := errors.New("the cause")
	type tc struct {
		name string
		ctx  func() (context.Context, func())
	}
	cases := []tc{
		{"WithCancel", func() (context.Context, func()) {
			c, f := context.WithCancel(context.Background())
			return c, f
		}},
		{"WithCancelCause", func() (context.Context, func()) {
			c, f := context.WithCancelCause(context.Background())
			return c, func() { f(cause) }
		}},
		{"WithCancelCause/nil", func() (context.Context, func()) {
			c, f := context.WithCancelCause(context.Background())
			return c, func() { f(nil) }
		}},
		{"WithDeadlineCause", func() (context.Context, func()) {
			c, f := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), cause)
			return c, f
		}},
		{"WithTimeoutCause", func() (context.Context, func()) {
			c, f := context.WithTimeoutCause(context.Background(), -1, cause)
			return c, f
		}},
		{"child of cancelled cause parent", func() (context.Context, func()) {
			p, pf := context.WithCancelCause(context.Background())
			c, f := context.WithCancel(p)
			return c, func() { pf(cause); f() }
		}},
		{"WithValue over cause", func() (context.Context, func()) {
			c, f := context.WithCancelCause(context.Background())
			return context.WithValue(c, struct{}{}, 1), func() { f(cause) }
		}},
		{"AfterFunc-driven", func() (context.Context, func()) {
			p, pf := context.WithCancel(context.Background())
			c, f := context.WithCancelCause(context.Background())
			context.AfterFunc(p, func() { f(cause) })
			return c, func() {
				pf()
				<-c.Done()
			}
		}},
		{"custom parent", func() (context.Context, func()) {
			p := uncancelled{done: make(chan struct{})}
			c, f := context.WithCancel(p)
			return c, func() { close(p.done); <-c.Done(); f() }
		}},
	}
	for _, c := range cases {
		ctx, end := c.ctx()
		end()
		<-ctx.Done()
		err := waitq.Err(ctx)
		if !errors.Is(err, ctx.Err()) || !errors.Is(err, context.Cause(ctx)) {
			t.Errorf("%s: Err = %v; ctx.Err = %v, Cause = %v", c.name, err, ctx.Err(), context.Cause(ctx))
		}
	}
}

type uncancelled struct{ done chan struct{} }

func (uncancelled) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c uncancelled) Done() <-chan struct{}     { return c.done }
func (c uncancelled) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}
func (uncancelled) Value(any) any { return nil }

// An adversarial review: a goroutine outside a testing/synctest bubble waits
// (with a cancellable ctx) and a goroutine inside the bubble wakes it, as
// happens with a package-level lock shared by a synctest test and a
// parallel test. The wait parks on a channel made outside the bubble, which
// the bubble may close; but Wake also called Done on the waiter's
// WaitGroup, whose Add ran outside the bubble, and sync aborts the whole
// process: "sync: WaitGroup.Add called from inside and outside synctest
// bubble" (a fatal error, not a panic). An uncancellable wait parked on
// that WaitGroup and could not be woken from a bubble at all; it parks on a
// Cond now, which can. Each case runs in a child process, since the
// failure kills it.
func TestWakeFromInsideBubble(t *testing.T) {
	if mode := os.Getenv("WAITQ_BUBBLE_CHILD"); mode != "" {
		var mu sync.Mutex
		var q waitq.Queue
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mu.Lock()
		w := q.Enqueue(0)
		done := make(chan error, 1)
		go func() {
			if mode == "noctx" {
				q.WaitNoCtx(&mu, w)
				done <- nil
				return
			}
			done <- q.Wait(ctx, &mu, w, nil)
		}()
		// Let it park first, or the wake may come before the park, and
		// touch nothing but the waiter's state.
		for !parkedInWaitq() {
			runtime.Gosched()
		}
		synctest.Test(t, func(t *testing.T) {
			mu.Lock()
			q.Wake(w)
			mu.Unlock()
		})
		if err := <-done; err != nil {
			t.Fatalf("Wait = %v", err)
		}
		return
	}
	for _, mode := range []string{"ctx", "noctx"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWakeFromInsideBubble$", "-test.count=1")
		cmd.Env = append(os.Environ(), "WAITQ_BUBBLE_CHILD="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: child failed: %v\n%s", mode, err, firstLines(string(out), 8))
		}
	}
}

// parkedInWaitq reports whether some goroutine is parked in a waitq wait
// (on a select, a Cond or a WaitGroup, with a waitq frame on its stack).
func parkedInWaitq() bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		parked := strings.Contains(header, "[select") || strings.Contains(header, "[sync.Cond.Wait") || strings.Contains(header, "[sync.WaitGroup.Wait")
		if parked && strings.Contains(g, "waitq.(*Queue).Wait") {
			return true
		}
	}
	return false
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// The lazy park handshake (see parkCond): a wake that lands before, during
// or after an uncancellable park, with the queue lock released before the
// park (as mutex.Cond does with a no-op locker), is never lost and never
// counted twice.
func TestWaitNoCtxRacesWake(t *testing.T) {
	var mu sync.Mutex
	var q waitq.Queue
	for range 2000 {
		mu.Lock()
		w := q.Enqueue(0)
		mu.Unlock()
		go func() {
			mu.Lock()
			q.Wake(w)
			mu.Unlock()
		}()
		q.WaitNoCtx(nopLocker{}, w)
	}
	if q.Len() != 0 {
		t.Fatalf("Len = %d after every waiter was woken", q.Len())
	}
}

type nopLocker struct{}

func (nopLocker) Lock()   {}
func (nopLocker) Unlock() {}

// Wait on a waiter that was cancelled unlinked it a second time, wiping the
// queue's head and tail out from under the waiters still in it. It must
// panic instead (misuse), leaving the queue intact.
func TestWaitAfterCancelPanics(t *testing.T) {
	var mu sync.Mutex
	var q waitq.Queue
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	other := q.Enqueue(1)
	w := q.Enqueue(2)
	q.Cancel(w)
	mu.Lock()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Wait on a cancelled waiter did not panic")
			}
		}()
		_ = q.Wait(ctx, &mu, w, nil)
	}()
	if q.Len() != 1 || q.Front() != other {
		t.Fatalf("queue damaged: Len = %d, Front is the other waiter: %v", q.Len(), q.Front() == other)
	}
}
