// Command user uses the future package the way a program that does not
// import sync/atomic would, for TestAtomicsInlineInUserPackages: every
// constructor, method and combinator, on a value type of its own, so that
// the compiler instantiates them here.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockstep-go/lockstep/future"
)

type value struct{ a, b int }

func main() {
	ctx := context.Background()
	exec := future.ExecutorFunc(func(task func()) error { go task(); return nil })
	work := func() (value, error) { return value{1, 2}, nil }

	p := future.NewPromise[value]()
	p.Resolve(value{3, 4})
	p.Reject(errors.New("late"))
	fs := []*future.Future[value]{
		p.Future(),
		future.Go(work),
		future.GoContext(ctx, func(context.Context) (value, error) { return work() }),
		future.Submit(exec, work),
		future.SubmitContext(ctx, exec, func(context.Context) (value, error) { return work() }),
		future.Resolved(value{5, 6}),
	}
	f := future.Then(fs[1], func(v value) (value, error) { return v, nil })
	f = future.ThenOn(f, exec, func(v value) (value, error) { return v, nil })
	f = future.Compose(f, func(v value) *future.Future[value] { return future.Resolved(v) })
	f = future.Handle(f, func(v value, err error) (value, error) { return v, err })
	f = future.Recover(f, func(err error) (value, error) { return value{}, nil })
	f = future.OrTimeout(f, time.Minute)
	all, err := future.All(append(fs, f)...).Get(ctx)
	fmt.Println(len(all), err)
	settled, _ := future.AllSettled(fs...).Get(ctx)
	a, _ := future.Any(fs...).Get(ctx)
	r, _ := future.Race(fs...).Get(ctx)
	rejected := future.Rejected[value](errors.New("no"))
	_, _, done := rejected.TryGet()
	<-rejected.Done()
	c := future.Go(work)
	c.Cancel()
	fmt.Println(len(settled), a, r, done)
}
