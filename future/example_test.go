package future_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-go/lockstep/future"
	"github.com/lockstep-go/lockstep/pool"
)

// Run a function on its own goroutine and wait for its result.
func Example() {
	f := future.Go(func() (int, error) {
		return 6 * 7, nil
	})
	v, err := f.Get(context.Background())
	fmt.Println(v, err)
	// Output: 42 <nil>
}

// A Promise is the producer's side: whoever holds it completes the future
// once; everyone holding the future sees that one result.
func ExamplePromise() {
	p := future.NewPromise[string]()
	go func() {
		p.Resolve("ready")
	}()
	v, _ := p.Future().Get(context.Background())
	fmt.Println(v)
	fmt.Println("second Resolve:", p.Resolve("too late"))
	// Output:
	// ready
	// second Resolve: false
}

// Continuations form a pipeline with no goroutine waiting between stages:
// each stage runs when the one before it completes.
func ExampleThen() {
	p := future.NewPromise[string]()
	n := future.Then(p.Future(), strconv.Atoi)
	doubled := future.Then(n, func(v int) (int, error) { return 2 * v, nil })

	p.Resolve("21") // runs both stages, here, before Resolve returns
	fmt.Println(doubled.TryGet())

	// A failure skips the stages after it.
	q := future.NewPromise[string]()
	bad := future.Then(future.Then(q.Future(), strconv.Atoi), func(v int) (int, error) { return 2 * v, nil })
	q.Resolve("twenty-one")
	_, err := bad.Get(context.Background())
	fmt.Println(err)
	// Output:
	// 42 <nil> true
	// strconv.Atoi: parsing "twenty-one": invalid syntax
}

// Recover turns a failure into a value (or another error).
func ExampleRecover() {
	errNotFound := errors.New("not found")
	lookup := future.Rejected[string](errNotFound)
	name := future.Recover(lookup, func(err error) (string, error) {
		if errors.Is(err, errNotFound) {
			return "anonymous", nil
		}
		return "", err
	})
	fmt.Println(name.Get(context.Background()))
	// Output: anonymous <nil>
}

// Compose chains a step that is itself asynchronous.
func ExampleCompose() {
	fetchUser := func(id int) *future.Future[string] {
		return future.Go(func() (string, error) { return fmt.Sprintf("user%d", id), nil })
	}
	fetchGreeting := func(user string) *future.Future[string] {
		return future.Go(func() (string, error) { return "hello, " + user, nil })
	}
	greeting := future.Compose(fetchUser(7), fetchGreeting)
	fmt.Println(greeting.Get(context.Background()))
	// Output: hello, user7 <nil>
}

// Handle sees both outcomes; it is the way to attach a callback.
func ExampleHandle() {
	report := func(v int, err error) (string, error) {
		if err != nil {
			return "failed: " + err.Error(), nil
		}
		return "got " + strconv.Itoa(v), nil
	}
	ok, _ := future.Handle(future.Resolved(1), report).Get(context.Background())
	bad, _ := future.Handle(future.Rejected[int](errors.New("boom")), report).Get(context.Background())
	fmt.Println(ok)
	fmt.Println(bad)
	// Output:
	// got 1
	// failed: boom
}

// All waits for every future and keeps their order; it fails as soon as
// one fails.
func ExampleAll() {
	var fs []*future.Future[string]
	for _, w := range []string{"a", "b", "c"} {
		fs = append(fs, future.Go(func() (string, error) { return strings.ToUpper(w), nil }))
	}
	vs, err := future.All(fs...).Get(context.Background())
	fmt.Println(vs, err)

	never := future.NewPromise[string]() // All does not wait for it
	_, err = future.All(never.Future(), future.Rejected[string](errors.New("b failed"))).Get(context.Background())
	fmt.Println(err)
	// Output:
	// [A B C] <nil>
	// b failed
}

// AllSettled reports every outcome.
func ExampleAllSettled() {
	rs, _ := future.AllSettled(future.Resolved(1), future.Rejected[int](errors.New("no"))).Get(context.Background())
	for _, r := range rs {
		fmt.Println(r.Value, r.Err)
	}
	// Output:
	// 1 <nil>
	// 0 no
}

// Any takes the first success: here the mirror that answers. When all
// fail, its error matches every failure.
func ExampleAny() {
	errDown := errors.New("mirror down")
	errSlow := errors.New("mirror too slow")
	mirrors := []*future.Future[string]{
		future.Rejected[string](errDown),
		future.Resolved("mirror-2"),
	}
	fmt.Println(future.Any(mirrors...).Get(context.Background()))

	_, err := future.Any(future.Rejected[string](errDown), future.Rejected[string](errSlow)).Get(context.Background())
	fmt.Println(errors.Is(err, errDown), errors.Is(err, errSlow))
	// Output:
	// mirror-2 <nil>
	// true true
}

// Race takes the first completion, success or failure.
func ExampleRace() {
	slow := future.NewPromise[string]()
	fast := future.Rejected[string](errors.New("fast failure"))
	_, err := future.Race(slow.Future(), fast).Get(context.Background())
	fmt.Println(err)
	// Output: fast failure
}

// OrTimeout bounds how long a future may take. The producer keeps running;
// GoContext lets it stop.
func ExampleOrTimeout() {
	stuck := future.NewPromise[int]()
	_, err := future.OrTimeout(stuck.Future(), 10*time.Millisecond).Get(context.Background())
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}

// GoContext hands the function a context that Cancel ends.
func ExampleGoContext() {
	started := make(chan struct{})
	f := future.GoContext(context.Background(), func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done() // a long computation that checks ctx
		return 0, ctx.Err()
	})
	<-started
	fmt.Println("cancelled:", f.Cancel())
	_, err := f.Get(context.Background())
	fmt.Println(err)
	// Output:
	// cancelled: true
	// context canceled
}

// Get's ctx bounds only the wait: the future can still complete later.
func ExampleFuture_Get() {
	p := future.NewPromise[int]()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := p.Future().Get(ctx)
	fmt.Println(err)

	p.Resolve(1)
	fmt.Println(p.Future().Get(context.Background()))
	// Output:
	// context deadline exceeded
	// 1 <nil>
}

// Done works in a select, next to other channels.
func ExampleFuture_Done() {
	f := future.Go(func() (string, error) { return "done", nil })
	select {
	case <-f.Done():
		v, _, _ := f.TryGet()
		fmt.Println(v)
	case <-time.After(time.Minute):
		fmt.Println("too slow")
	}
	// Output: done
}

// Submit runs the function on an executor, such as a pool.Pool. Here the
// executor is a function that starts a goroutine per task; a refusal fails
// the future with the executor's error.
func ExampleSubmit() {
	goroutines := future.ExecutorFunc(func(task func()) error {
		go task()
		return nil
	})
	fmt.Println(future.Submit(goroutines, func() (int, error) { return 1, nil }).Get(context.Background()))

	errFull := errors.New("queue full")
	full := future.ExecutorFunc(func(func()) error { return errFull })
	_, err := future.Submit(full, func() (int, error) { return 1, nil }).Get(context.Background())
	fmt.Println(errors.Is(err, errFull))
	// Output:
	// 1 <nil>
	// true
}

// A panic in the function becomes a *PanicError that carries the value and
// the stack.
func ExamplePanicError() {
	_, err := future.Go(func() (int, error) { panic("bad input") }).Get(context.Background())
	var pe *future.PanicError
	if errors.As(err, &pe) {
		fmt.Println("recovered:", pe.Value)
	}
	// Output: recovered: bad input
}

// Fan out on a work-stealing pool and collect the results in order: the
// way to run many small futures, with no goroutine per task. All fails as
// soon as one of them fails.
func ExampleAll_onPool() {
	p := pool.New(0)
	defer p.Shutdown(context.Background())
	fs := make([]*future.Future[int], 5)
	for i := range fs {
		fs[i] = future.Submit(p, func() (int, error) { return i * i, nil })
	}
	squares, err := future.All(fs...).Get(context.Background())
	fmt.Println(squares, err)
	// Output: [0 1 4 9 16] <nil>
}
