package future_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/internal/panics"
	"github.com/lockstep-go/lockstep/internal/testhook"
)

var (
	errA = errors.New("a failed")
	errB = errors.New("b failed")
	errC = errors.New("c failed")
)

var bg = context.Background()

// mustGet returns f's result, failing the test if f is not complete.
func mustGet[T any](t *testing.T, f *future.Future[T]) (T, error) {
	t.Helper()
	v, err, ok := f.TryGet()
	if !ok {
		t.Fatal("future is not complete")
	}
	return v, err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func wantPanic(t *testing.T, prefix string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if s, ok := r.(string); !ok || !strings.HasPrefix(s, prefix) {
			t.Fatalf("panic = %v, want a string starting with %q", r, prefix)
		}
	}()
	fn()
}

func TestFirstCompletionWins(t *testing.T) {
	type op struct {
		name string
		do   func(p *future.Promise[int]) bool
		v    int
		err  error
	}
	ops := []op{
		{"Resolve", func(p *future.Promise[int]) bool { return p.Resolve(1) }, 1, nil},
		{"Reject", func(p *future.Promise[int]) bool { return p.Reject(errA) }, 0, errA},
		{"Complete", func(p *future.Promise[int]) bool { return p.Complete(3, errB) }, 3, errB},
		{"Cancel", func(p *future.Promise[int]) bool { return p.Future().Cancel() }, 0, context.Canceled},
	}
	for _, first := range ops {
		for _, second := range ops {
			t.Run(first.name+"/"+second.name, func(t *testing.T) {
				p := future.NewPromise[int]()
				if !first.do(p) {
					t.Fatal("the first completion reported false")
				}
				if second.do(p) {
					t.Fatal("a second completion reported true")
				}
				v, err := p.Future().Get(bg)
				if v != first.v || !errors.Is(err, first.err) || (first.err == nil) != (err == nil) {
					t.Fatalf("Get = %v, %v; want %v, %v", v, err, first.v, first.err)
				}
			})
		}
	}
}

func TestZeroPromiseIsUsable(t *testing.T) {
	var p future.Promise[string]
	if _, _, ok := p.Future().TryGet(); ok {
		t.Fatal("zero promise is complete")
	}
	if p.Future() != p.Future() {
		t.Fatal("Future returned different futures")
	}
	if !p.Resolve("x") {
		t.Fatal("Resolve of a zero promise reported false")
	}
	if v, err := p.Future().Get(bg); v != "x" || err != nil {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func TestMisusePanics(t *testing.T) {
	wantPanic(t, "future: ", func() { future.NewPromise[int]().Reject(nil) })
	wantPanic(t, "future: ", func() { future.Rejected[int](nil) })
	wantPanic(t, "future: ", func() { future.Then[int, int](nil, func(int) (int, error) { return 0, nil }) })
	wantPanic(t, "future: ", func() { future.Then[int, int](future.Resolved(1), nil) })
	wantPanic(t, "future: ", func() { future.All(future.Resolved(1), nil) })
	wantPanic(t, "future: ", func() { future.Submit[int](nil, func() (int, error) { return 0, nil }) })
	wantPanic(t, "future: ", func() {
		future.SubmitContext[int](bg, nil, func(context.Context) (int, error) { return 0, nil })
	})
	wantPanic(t, "future: ", func() { future.ThenOn(future.Resolved(1), nil, func(int) (int, error) { return 0, nil }) })
	wantPanic(t, "future: ", func() { future.Compose[int, int](future.Resolved(1), nil) })
	wantPanic(t, "future: ", func() { future.Recover[int](nil, func(error) (int, error) { return 0, nil }) })
	wantPanic(t, "future: ", func() { future.Handle[int, int](future.Resolved(1), nil) })
	wantPanic(t, "future: ", func() { future.OrTimeout[int](nil, time.Second) })
	wantPanic(t, "future: ", func() { future.Any(nil, future.Resolved(1)) })
	wantPanic(t, "future: ", func() { future.Race[int](nil) })
	wantPanic(t, "future: ", func() { future.AllSettled[int](nil) })

	// A nil function or ctx panics at the call, before anything runs; it
	// used to surface later, on another goroutine, as a *PanicError of a
	// nil call (or as context.WithCancel's own panic).
	exec := future.ExecutorFunc(func(func()) error { t.Error("Submit reached the executor"); return nil })
	var nilCtx context.Context // the misuse under test
	ctxFn := func(context.Context) (int, error) { return 0, nil }
	wantPanic(t, "future: ", func() { future.Go[int](nil) })
	wantPanic(t, "future: ", func() { future.GoContext[int](bg, nil) })
	wantPanic(t, "future: ", func() { future.GoContext(nilCtx, ctxFn) })
	wantPanic(t, "future: ", func() { future.Submit[int](exec, nil) })
	wantPanic(t, "future: ", func() { future.SubmitContext[int](bg, exec, nil) })
	wantPanic(t, "future: ", func() { future.SubmitContext(nilCtx, exec, ctxFn) })
}

// Rule 2 of the cancellation contract: a done ctx fails Get even when the
// future could be read at once; TryGet is the non-blocking path.
func TestGetDoneContextFailsEvenWhenComplete(t *testing.T) {
	f := future.Resolved(7)
	ctx, cancel := context.WithCancelCause(bg)
	cause := errors.New("shutting down")
	cancel(cause)
	v, err := f.Get(ctx)
	if v != 0 || !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("Get(done ctx) = %v, %v; want 0 and an error matching context.Canceled and the cause", v, err)
	}
	if v, err, ok := f.TryGet(); v != 7 || err != nil || !ok {
		t.Fatalf("TryGet = %v, %v, %v", v, err, ok)
	}
}

func TestGetWaitsForCompletion(t *testing.T) {
	p := future.NewPromise[int]()
	release := make(chan struct{})
	go func() {
		<-release
		p.Resolve(42)
	}()
	got := make(chan int)
	go func() {
		v, _ := p.Future().Get(bg)
		got <- v
	}()
	close(release)
	if v := <-got; v != 42 {
		t.Fatalf("Get = %d, want 42", v)
	}
}

// A ctx that ends abandons only the wait: the future stays pending, can
// still be completed, and no goroutine is left (synctest would report one
// still running at the end of the bubble; goleak at the end of the binary).
func TestGetTimeoutAbandonsOnlyTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := future.NewPromise[int]()
		f := p.Future()
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		start := time.Now()
		_, err := f.Get(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Get returned after %v, want exactly 1s of fake time", d)
		}
		if _, _, ok := f.TryGet(); ok {
			t.Fatal("an abandoned Get completed the future")
		}
		// Many abandoned waits leave nothing behind either.
		for range 100 {
			ctx, cancel := context.WithTimeout(bg, time.Millisecond)
			if _, err := f.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get = %v", err)
			}
			cancel()
		}
		if !p.Resolve(5) {
			t.Fatal("Resolve after abandoned waits reported false")
		}
		if v, err := f.Get(bg); v != 5 || err != nil {
			t.Fatalf("Get = %v, %v", v, err)
		}
	})
}

// A Get parked when the future completes returns the value; one parked
// when its ctx ends returns the ctx error, and another waiter on the same
// future is not disturbed.
func TestGetParkedWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := future.NewPromise[int]()
		ctx, cancel := context.WithCancel(bg)
		errs := make(chan error, 2)
		vals := make(chan int, 1)
		go func() {
			_, err := p.Future().Get(ctx)
			errs <- err
		}()
		go func() {
			v, err := p.Future().Get(bg)
			vals <- v
			errs <- err
		}()
		synctest.Wait() // both parked
		cancel()
		synctest.Wait()
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Get = %v", err)
		}
		p.Resolve(9)
		if v := <-vals; v != 9 {
			t.Fatalf("Get = %d, want 9", v)
		}
		if err := <-errs; err != nil {
			t.Fatalf("Get error = %v", err)
		}
	})
}

// A Get yields a few times before it parks. A completion or a cancellation
// by a goroutine that runs during those yields is seen: with GOMAXPROCS 1
// the other goroutine runs exactly there, the first time Get yields.
func TestGetYieldWindow(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for range 1000 {
		p := future.NewPromise[int]()
		go p.Resolve(3)
		if v, err := p.Future().Get(bg); v != 3 || err != nil {
			t.Fatalf("Get = %v, %v; want 3, nil", v, err)
		}

		q := future.NewPromise[int]()
		ctx, cancel := context.WithCancel(bg)
		go cancel()
		if v, err := q.Future().Get(ctx); v != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("Get with a ctx cancelled while it waits = %v, %v", v, err)
		}
		if _, _, ok := q.Future().TryGet(); ok {
			t.Fatal("a cancelled Get completed the future")
		}

		r := future.NewPromise[int]()
		ctx, cancel = context.WithCancel(bg)
		go func() { r.Resolve(4); cancel() }()
		v, err := r.Future().Get(ctx)
		if !(v == 4 && err == nil) && !(v == 0 && errors.Is(err, context.Canceled)) {
			t.Fatalf("Get racing a completion and a cancellation = %v, %v", v, err)
		}
	}
}

// Once Get has returned, the future reads as complete everywhere: Done is
// closed, and a GoContext function's context is released, although the
// completer may not have run the future's callbacks yet (a Get that yields
// before it parks often sees the completion in that window).
func TestCompleteEverywhereOnceGetReturns(t *testing.T) {
	testhook.Enable(t) // widen the window between completion and callbacks
	for range 2000 {
		p := future.NewPromise[int]()
		f := p.Future()
		_ = f.Done() // made now, closed by a callback
		go p.Resolve(1)
		if v, err := f.Get(bg); v != 1 || err != nil {
			t.Fatalf("Get = %v, %v", v, err)
		}
		if !isClosed(f.Done()) {
			t.Fatal("Done is open after Get returned the result")
		}

		var inner context.Context
		g := future.GoContext(bg, func(ctx context.Context) (int, error) {
			inner = ctx
			return 2, nil
		})
		if v, err := g.Get(bg); v != 2 || err != nil {
			t.Fatalf("Get = %v, %v", v, err)
		}
		if inner.Err() == nil {
			t.Fatal("fn's context is still live after Get returned its result")
		}
	}
}

func TestDone(t *testing.T) {
	p := future.NewPromise[int]()
	f := p.Future()
	d1, d2 := f.Done(), f.Done()
	if d1 != d2 {
		t.Fatal("Done returned different channels for a pending future")
	}
	if isClosed(d1) {
		t.Fatal("Done is closed before completion")
	}
	p.Resolve(1)
	if !isClosed(d1) || !isClosed(f.Done()) {
		t.Fatal("Done is not closed after completion")
	}
	if !isClosed(future.Resolved(1).Done()) {
		t.Fatal("Done of a resolved future is not closed")
	}
}

func TestCancel(t *testing.T) {
	p := future.NewPromise[int]()
	f := p.Future()
	if !f.Cancel() {
		t.Fatal("Cancel of a pending future reported false")
	}
	if f.Cancel() || p.Resolve(1) || p.Reject(errA) {
		t.Fatal("a completion after Cancel reported true")
	}
	if _, err := f.Get(bg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get after Cancel = %v, want context.Canceled", err)
	}
}

func TestGoContextCancelReachesProducer(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan error)
	f := future.GoContext(bg, func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return 1, nil // dropped: Cancel won
	})
	<-started
	if !f.Cancel() {
		t.Fatal("Cancel reported false")
	}
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Fatalf("producer saw %v", err)
	}
	if v, err := f.Get(bg); v != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, %v; want 0, context.Canceled", v, err)
	}
}

func TestGoContextReleasesContextOnReturn(t *testing.T) {
	var inner context.Context
	f := future.GoContext(bg, func(ctx context.Context) (string, error) {
		inner = ctx
		return "ok", nil
	})
	if v, err := f.Get(bg); v != "ok" || err != nil {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if inner.Err() == nil {
		t.Fatal("fn's context is still live after fn returned")
	}
	if f.Cancel() {
		t.Fatal("Cancel after completion reported true")
	}
}

func TestGoContextParentCancellation(t *testing.T) {
	parent, cancel := context.WithCancel(bg)
	f := future.GoContext(parent, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return -1, ctx.Err()
	})
	cancel()
	if v, err := f.Get(bg); v != -1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, %v; want what fn returned", v, err)
	}
}

func panicky() (int, error) { panic("kaboom") }

func TestGoPanicBecomesPanicError(t *testing.T) {
	_, err := future.Go(panicky).Get(bg)
	var pe *future.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Get = %v, want a *PanicError", err)
	}
	if pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "future_test.panicky") {
		t.Fatalf("PanicError value %v, stack does not name the frame:\n%s", pe.Value, pe.Stack)
	}
	// The same type as internal/panics (and so as pool's PanicError).
	var shared *panics.Error = pe
	_ = shared
	// A panic with an error value unwraps to it.
	_, err = future.Go(func() (int, error) { panic(errC) }).Get(bg)
	if !errors.Is(err, errC) || !errors.As(err, &pe) {
		t.Fatalf("Get = %v, want a *PanicError wrapping errC", err)
	}
}

func TestGoGoexit(t *testing.T) {
	_, err := future.Go(func() (int, error) {
		runtime.Goexit()
		return 1, nil
	}).Get(bg)
	if !errors.Is(err, future.ErrGoexit) {
		t.Fatalf("Get = %v, want ErrGoexit", err)
	}
}

func TestSubmitRunsOnExecutor(t *testing.T) {
	w := newWorkers(2)
	defer w.Close()
	fs := make([]*future.Future[int], 100)
	for i := range fs {
		fs[i] = future.Submit(w, func() (int, error) { return i * i, nil })
	}
	for i, f := range fs {
		if v, err := f.Get(bg); v != i*i || err != nil {
			t.Fatalf("future %d = %v, %v", i, v, err)
		}
	}
	if w.Ran() < 1 {
		t.Fatal("no task ran on the executor")
	}
	// A panicking task fails its future and does not reach the worker.
	if _, err := future.Submit(w, panicky).Get(bg); !errors.As(err, new(*future.PanicError)) {
		t.Fatalf("Get = %v, want a *PanicError", err)
	}
}

func TestSubmitRefused(t *testing.T) {
	w := newWorkers(1)
	w.Close()
	called := false
	f := future.Submit(w, func() (int, error) { called = true; return 1, nil })
	_, err := mustGet(t, f)
	if !errors.Is(err, errWorkersClosed) {
		t.Fatalf("Get = %v, want an error matching the executor's", err)
	}
	var ctxSeen context.Context
	g := future.SubmitContext(bg, w, func(ctx context.Context) (int, error) { ctxSeen = ctx; return 1, nil })
	if _, err := mustGet(t, g); !errors.Is(err, errWorkersClosed) {
		t.Fatalf("SubmitContext: Get = %v", err)
	}
	if called || ctxSeen != nil {
		t.Fatal("a refused task ran")
	}
}

func TestSubmitContextCancel(t *testing.T) {
	w := newWorkers(1)
	defer w.Close()
	started := make(chan struct{})
	f := future.SubmitContext(bg, w, func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	<-started
	f.Cancel()
	if _, err := f.Get(bg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v", err)
	}
}

func TestThen(t *testing.T) {
	p := future.NewPromise[int]()
	s := future.Then(p.Future(), func(v int) (string, error) { return fmt.Sprint(v * 2), nil })
	if _, _, ok := s.TryGet(); ok {
		t.Fatal("Then completed before its input")
	}
	p.Resolve(21)
	if v, err := mustGet(t, s); v != "42" || err != nil {
		t.Fatalf("Then = %q, %v", v, err)
	}
	// A failure passes through without calling fn; fn's error fails it.
	called := false
	f := future.Then(future.Rejected[int](errA), func(int) (int, error) { called = true; return 0, nil })
	if _, err := mustGet(t, f); err != errA || called {
		t.Fatalf("Then of a failure = %v (fn called: %v), want errA itself", err, called)
	}
	g := future.Then(future.Resolved(1), func(int) (int, error) { return 0, errB })
	if _, err := mustGet(t, g); err != errB {
		t.Fatalf("Then = %v, want errB", err)
	}
}

func stagePanics(int) (int, error) { panic("stage") }

func TestContinuationPanics(t *testing.T) {
	p := future.NewPromise[int]()
	f := future.Then(p.Future(), stagePanics)
	after := future.Then(f, func(int) (int, error) { return 1, nil })
	sibling := future.Then(p.Future(), func(v int) (int, error) { return v, nil })
	if !p.Resolve(1) {
		t.Fatal("Resolve reported false")
	}
	_, err := mustGet(t, f)
	var pe *future.PanicError
	if !errors.As(err, &pe) || pe.Value != "stage" || !strings.Contains(string(pe.Stack), "future_test.stagePanics") {
		t.Fatalf("panicking stage = %v, want a *PanicError naming stagePanics", err)
	}
	if _, err := mustGet(t, after); err != error(pe) {
		t.Fatalf("stage after a panic = %v, want the same *PanicError", err)
	}
	if v, err := mustGet(t, sibling); v != 1 || err != nil {
		t.Fatalf("a sibling continuation = %v, %v: a panic stopped the completer", v, err)
	}

	cases := map[string]func(f *future.Future[int]) *future.Future[int]{
		"Recover": func(f *future.Future[int]) *future.Future[int] {
			return future.Recover(f, func(error) (int, error) { panic("recover") })
		},
		"Compose": func(f *future.Future[int]) *future.Future[int] {
			return future.Compose(f, func(int) *future.Future[int] { panic("compose") })
		},
		"Handle": func(f *future.Future[int]) *future.Future[int] {
			return future.Handle(f, func(int, error) (int, error) { panic("handle") })
		},
	}
	for name, mk := range cases {
		in := future.Resolved(1)
		if name == "Recover" {
			in = future.Rejected[int](errA)
		}
		if _, err := mustGet(t, mk(in)); !errors.As(err, &pe) {
			t.Errorf("%s: panic = %v, want a *PanicError", name, err)
		}
	}
}

// A continuation that calls runtime.Goexit (t.FailNow does) fails its own
// future with ErrGoexit, and the completer still runs the rest.
func TestContinuationGoexit(t *testing.T) {
	p := future.NewPromise[int]()
	f := future.Then(p.Future(), func(int) (int, error) { runtime.Goexit(); return 0, nil })
	after := future.Then(f, func(v int) (int, error) { return v, nil })
	sibling := future.Then(p.Future(), func(v int) (int, error) { return v + 1, nil })
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Resolve(1) // this goroutine exits inside
		t.Error("Resolve returned although a continuation called Goexit")
	}()
	<-done
	for _, g := range []*future.Future[int]{f, after} {
		if _, err := g.Get(bg); !errors.Is(err, future.ErrGoexit) {
			t.Fatalf("Get = %v, want ErrGoexit", err)
		}
	}
	if v, err := sibling.Get(bg); v != 2 || err != nil {
		t.Fatalf("sibling = %v, %v: the rest of the callbacks did not run", v, err)
	}
}

func TestThenOnRunsOnExecutor(t *testing.T) {
	w := newWorkers(1)
	defer w.Close()
	p := future.NewPromise[int]()
	release := make(chan struct{})
	f := future.ThenOn(p.Future(), w, func(v int) (int, error) {
		<-release // would deadlock Resolve if it ran inline
		return v + 1, nil
	})
	if !p.Resolve(1) {
		t.Fatal("Resolve reported false")
	}
	close(release)
	if v, err := f.Get(bg); v != 2 || err != nil {
		t.Fatalf("Get = %v, %v", v, err)
	}
	// Already complete input: the function still runs as a task.
	var submitted atomic.Int32
	counting := future.ExecutorFunc(func(task func()) error { submitted.Add(1); return w.Submit(task) })
	g := future.ThenOn(future.Resolved(2), counting, func(v int) (int, error) { return v * 10, nil })
	if v, err := g.Get(bg); v != 20 || err != nil || submitted.Load() != 1 {
		t.Fatalf("Get = %v, %v with %d tasks submitted", v, err, submitted.Load())
	}
}

func TestThenOnFailures(t *testing.T) {
	refusing := future.ExecutorFunc(func(func()) error { return errC })
	f := future.ThenOn(future.Resolved(1), refusing, func(v int) (int, error) { return v, nil })
	if _, err := mustGet(t, f); !errors.Is(err, errC) {
		t.Fatalf("refused ThenOn = %v, want errC wrapped", err)
	}
	panicking := future.ExecutorFunc(func(func()) error { panic("submit") })
	g := future.ThenOn(future.Resolved(1), panicking, func(v int) (int, error) { return v, nil })
	if _, err := mustGet(t, g); !errors.As(err, new(*future.PanicError)) {
		t.Fatalf("ThenOn with a panicking Submit = %v", err)
	}
	// A failed input passes through without a task.
	var submitted atomic.Int32
	counting := future.ExecutorFunc(func(task func()) error { submitted.Add(1); go task(); return nil })
	h := future.ThenOn(future.Rejected[int](errA), counting, func(v int) (int, error) { return v, nil })
	if _, err := mustGet(t, h); err != errA || submitted.Load() != 0 {
		t.Fatalf("ThenOn of a failure = %v with %d tasks", err, submitted.Load())
	}
}

func TestCompose(t *testing.T) {
	p := future.NewPromise[int]()
	inner := future.NewPromise[string]()
	f := future.Compose(p.Future(), func(v int) *future.Future[string] {
		if v != 1 {
			t.Errorf("fn got %d", v)
		}
		return inner.Future()
	})
	p.Resolve(1)
	if _, _, ok := f.TryGet(); ok {
		t.Fatal("Compose completed before the inner future")
	}
	inner.Resolve("inner")
	if v, err := mustGet(t, f); v != "inner" || err != nil {
		t.Fatalf("Compose = %q, %v", v, err)
	}
	// Inner already complete, inner failed, input failed, nil inner.
	g := future.Compose(future.Resolved(1), func(int) *future.Future[int] { return future.Rejected[int](errB) })
	if _, err := mustGet(t, g); err != errB {
		t.Fatalf("Compose of a failed inner = %v", err)
	}
	h := future.Compose(future.Rejected[int](errA), func(int) *future.Future[int] { t.Error("fn called"); return nil })
	if _, err := mustGet(t, h); err != errA {
		t.Fatalf("Compose of a failure = %v", err)
	}
	n := future.Compose(future.Resolved(1), func(int) *future.Future[int] { return nil })
	if _, err := mustGet(t, n); err == nil {
		t.Fatal("Compose with a nil inner future succeeded")
	}
}

func TestRecover(t *testing.T) {
	f := future.Recover(future.Rejected[int](errA), func(err error) (int, error) {
		if err != errA {
			t.Errorf("fn got %v", err)
		}
		return -1, nil
	})
	if v, err := mustGet(t, f); v != -1 || err != nil {
		t.Fatalf("Recover = %v, %v", v, err)
	}
	g := future.Recover(future.Resolved(3), func(error) (int, error) { t.Error("fn called on success"); return 0, nil })
	if v, err := mustGet(t, g); v != 3 || err != nil {
		t.Fatalf("Recover of a success = %v, %v", v, err)
	}
	h := future.Recover(future.Rejected[int](errA), func(err error) (int, error) { return 0, fmt.Errorf("wrapped: %w", err) })
	if _, err := mustGet(t, h); !errors.Is(err, errA) {
		t.Fatalf("Recover translating the error = %v", err)
	}
}

func TestHandle(t *testing.T) {
	show := func(v int, err error) (string, error) { return fmt.Sprint(v, err), nil }
	if v, _ := mustGet(t, future.Handle(future.Resolved(1), show)); v != "1 <nil>" {
		t.Fatalf("Handle of a success = %q", v)
	}
	if v, _ := mustGet(t, future.Handle(future.Rejected[int](errA), show)); v != "0 a failed" {
		t.Fatalf("Handle of a failure = %q", v)
	}
}

// Every continuation runs exactly once, whether attached before or after
// completion; those attached by one goroutine before completion run in
// attachment order.
func TestCallbacksExactlyOnce(t *testing.T) {
	const n = 100
	p := future.NewPromise[int]()
	var runs [2 * n]atomic.Int32
	var order []int
	for i := range n {
		future.Then(p.Future(), func(v int) (int, error) {
			runs[i].Add(1)
			order = append(order, i)
			return v, nil
		})
	}
	p.Resolve(1)
	for i := n; i < 2*n; i++ {
		future.Then(p.Future(), func(v int) (int, error) { runs[i].Add(1); return v, nil })
	}
	p.Resolve(2)
	p.Future().Cancel()
	for i := range runs {
		if c := runs[i].Load(); c != 1 {
			t.Fatalf("callback %d ran %d times", i, c)
		}
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("callbacks ran in order %v, want attachment order", order)
		}
	}
}

func TestCancelDownstreamSkipsFunction(t *testing.T) {
	p := future.NewPromise[int]()
	called := false
	f := future.Then(p.Future(), func(v int) (int, error) { called = true; return v, nil })
	if !f.Cancel() {
		t.Fatal("Cancel reported false")
	}
	p.Resolve(1)
	if called {
		t.Fatal("the function of a cancelled stage ran")
	}
	if v, err := p.Future().Get(bg); v != 1 || err != nil {
		t.Fatalf("cancelling a stage changed its input: %v, %v", v, err)
	}
}

// stackDepth returns the number of frames on the calling goroutine.
func stackDepth() int {
	pcs := make([]uintptr, 4096)
	return runtime.Callers(1, pcs)
}

// A chain of 1e5 Then stages costs no goroutines, completes at once when
// its head does, and runs iteratively: the stack stays shallow instead of
// growing a frame (or several) per stage. So does a chain of ThenOn stages
// on an executor that runs each task before its Submit returns (pool's
// CallerRuns with a full queue): each stage's Submit ran the task, whose
// completion ran the next stage's Submit, about ten frames a stage, and two
// million stages died of a fatal stack overflow.
func TestLongChain(t *testing.T) {
	const stages = 100_000
	for _, link := range []struct {
		name string
		then func(*future.Future[int], func(int) (int, error)) *future.Future[int]
	}{
		{"Then", future.Then[int, int]},
		{"ThenOn inline executor", func(f *future.Future[int], fn func(int) (int, error)) *future.Future[int] {
			return future.ThenOn(f, inlineExec, fn)
		}},
	} {
		t.Run(link.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			p := future.NewPromise[int]()
			f := p.Future()
			maxDepth := 0
			step := func(i int) func(int) (int, error) {
				return func(v int) (int, error) {
					if i%1000 == 0 {
						maxDepth = max(maxDepth, stackDepth())
					}
					return v + 1, nil
				}
			}
			for i := range stages {
				f = link.then(f, step(i))
			}
			if n := runtime.NumGoroutine(); n > base+2 {
				t.Fatalf("%d goroutines after building the chain, %d before", n, base)
			}
			p.Resolve(0)
			if v, err := mustGet(t, f); v != stages || err != nil {
				t.Fatalf("chain = %v, %v; want %d", v, err, stages)
			}
			// The same chain attached to a complete future runs as it is
			// built.
			g := future.Resolved(0)
			for i := range stages {
				g = link.then(g, step(i))
			}
			if v, err := mustGet(t, g); v != stages || err != nil {
				t.Fatalf("chain on a resolved future = %v, %v; want %d", v, err, stages)
			}
			if maxDepth > 64 {
				t.Fatalf("stack depth %d in a stage: the chain recursed", maxDepth)
			}
		})
	}
}

// A chain of 1e5 Compose stages, each returning a pending future that the
// next completes, forwards its result iteratively too.
func TestLongComposeChain(t *testing.T) {
	const stages = 100_000
	p := future.NewPromise[int]()
	f := p.Future()
	inners := make([]*future.Promise[int], stages)
	for i := range inners {
		inners[i] = future.NewPromise[int]()
	}
	maxDepth := 0
	for i := range stages {
		f = future.Compose(f, func(v int) *future.Future[int] {
			if i%1000 == 0 {
				maxDepth = max(maxDepth, stackDepth())
			}
			return inners[i].Future()
		})
	}
	// Complete the inner futures back to front, so that each forward is
	// pending until the head of the chain completes.
	for i := stages - 1; i >= 0; i-- {
		inners[i].Resolve(i)
	}
	p.Resolve(0)
	if v, err := mustGet(t, f); v != stages-1 || err != nil {
		t.Fatalf("compose chain = %v, %v", v, err)
	}
	if maxDepth > 64 {
		t.Fatalf("stack depth %d in a stage: the chain recursed", maxDepth)
	}
}

func TestAll(t *testing.T) {
	ps := make([]*future.Promise[int], 5)
	fs := make([]*future.Future[int], len(ps))
	for i := range ps {
		ps[i] = future.NewPromise[int]()
		fs[i] = ps[i].Future()
	}
	all := future.All(fs...)
	for _, i := range []int{3, 0, 4, 1} {
		ps[i].Resolve(i * 10)
	}
	if _, _, ok := all.TryGet(); ok {
		t.Fatal("All completed with an input pending")
	}
	ps[2].Resolve(20)
	v, err := mustGet(t, all)
	if err != nil || fmt.Sprint(v) != "[0 10 20 30 40]" {
		t.Fatalf("All = %v, %v; want the values in input order", v, err)
	}
	if v, err := mustGet(t, future.All[int]()); v == nil || len(v) != 0 || err != nil {
		t.Fatalf("All() = %#v, %v; want an empty slice", v, err)
	}
}

// All fails as soon as one input fails, while another input never
// completes at all.
func TestAllFailsFast(t *testing.T) {
	never := future.NewPromise[int]() // never completed
	failing := future.NewPromise[int]()
	slow := future.GoContext(bg, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	defer slow.Cancel()
	all := future.All(future.Resolved(1), never.Future(), slow, failing.Future())
	failing.Reject(errA)
	if _, err := mustGet(t, all); err != errA {
		t.Fatalf("All = %v, want errA at once", err)
	}
	// An input already failed when All is called fails it at once too.
	if _, err := mustGet(t, future.All(never.Future(), future.Rejected[int](errB))); err != errB {
		t.Fatalf("All = %v, want errB", err)
	}
}

func TestAllSettled(t *testing.T) {
	p := future.NewPromise[int]()
	s := future.AllSettled(future.Resolved(1), future.Rejected[int](errA), p.Future())
	if _, _, ok := s.TryGet(); ok {
		t.Fatal("AllSettled completed with an input pending")
	}
	p.Reject(errB)
	rs, err := mustGet(t, s)
	want := []future.Result[int]{{Value: 1}, {Err: errA}, {Err: errB}}
	if err != nil || len(rs) != len(want) {
		t.Fatalf("AllSettled = %v, %v", rs, err)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Fatalf("AllSettled[%d] = %v, want %v", i, rs[i], want[i])
		}
	}
}

func TestAny(t *testing.T) {
	a, b, c := future.NewPromise[int](), future.NewPromise[int](), future.NewPromise[int]()
	f := future.Any(a.Future(), b.Future(), c.Future())
	a.Reject(errA)
	if _, _, ok := f.TryGet(); ok {
		t.Fatal("Any completed on a failure")
	}
	c.Resolve(3)
	b.Resolve(2)
	if v, err := mustGet(t, f); v != 3 || err != nil {
		t.Fatalf("Any = %v, %v; want the first success", v, err)
	}

	g := future.Any(future.Rejected[int](errA), future.Rejected[int](errB), future.Rejected[int](errC))
	_, err := mustGet(t, g)
	for _, want := range []error{errA, errB, errC} {
		if !errors.Is(err, want) {
			t.Fatalf("Any of failures = %v, does not match %v", err, want)
		}
	}
	if _, err := mustGet(t, future.Any[int]()); !errors.Is(err, future.ErrNoFutures) {
		t.Fatalf("Any() = %v", err)
	}
}

func TestRace(t *testing.T) {
	a, b := future.NewPromise[int](), future.NewPromise[int]()
	f := future.Race(a.Future(), b.Future())
	b.Reject(errB)
	a.Resolve(1)
	if _, err := mustGet(t, f); err != errB {
		t.Fatalf("Race = %v, want the first completion (errB)", err)
	}
	g := future.Race(future.NewPromise[int]().Future(), future.Resolved(2))
	if v, err := mustGet(t, g); v != 2 || err != nil {
		t.Fatalf("Race = %v, %v", v, err)
	}
	if _, err := mustGet(t, future.Race[int]()); !errors.Is(err, future.ErrNoFutures) {
		t.Fatalf("Race() = %v", err)
	}
}

func TestOrTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := future.NewPromise[int]()
		start := time.Now()
		f := future.OrTimeout(p.Future(), 3*time.Second)
		_, err := f.Get(bg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("OrTimeout = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("timed out after %v, want 3s", d)
		}
		if _, _, ok := p.Future().TryGet(); ok {
			t.Fatal("OrTimeout completed its input")
		}

		// Completes in time: the value, at the time of completion.
		q := future.NewPromise[int]()
		g := future.OrTimeout(q.Future(), 3*time.Second)
		go func() {
			time.Sleep(time.Second)
			q.Resolve(7)
		}()
		start = time.Now()
		if v, err := g.Get(bg); v != 7 || err != nil || time.Since(start) != time.Second {
			t.Fatalf("OrTimeout = %v, %v after %v", v, err, time.Since(start))
		}
		// The deadline passing later changes nothing.
		time.Sleep(5 * time.Second)
		if v, err := mustGet(t, g); v != 7 || err != nil {
			t.Fatalf("after the deadline: %v, %v", v, err)
		}

		if _, err := mustGet(t, future.OrTimeout(future.NewPromise[int]().Future(), 0)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("OrTimeout(0) = %v", err)
		}
		if v, _ := mustGet(t, future.OrTimeout(future.Resolved(1), 0)); v != 1 {
			t.Fatal("OrTimeout(0) of a complete future did not pass its value")
		}
	})
}

// Memory model: plain writes before Resolve are visible after every way of
// observing the completion (-race reports a missing edge).
func TestResolvePublishes(t *testing.T) {
	type box struct{ a, b int }
	for range 100 {
		p := future.NewPromise[*box]()
		var side int
		var wg [3]chan struct{}
		for i := range wg {
			wg[i] = make(chan struct{})
		}
		go func() {
			b, _ := p.Future().Get(bg)
			_ = b.a + side
			close(wg[0])
		}()
		go func() {
			<-p.Future().Done()
			b, _, _ := p.Future().TryGet()
			_ = b.b + side
			close(wg[1])
		}()
		future.Then(p.Future(), func(b *box) (int, error) {
			_ = b.a + side
			close(wg[2])
			return 0, nil
		})
		go func() {
			side = 1
			p.Resolve(&box{1, 2})
		}()
		for _, c := range wg {
			<-c
		}
	}
}
