package pool

import (
	"errors"
	"time"

	"github.com/lockstep-go/lockstep/internal/panics"
)

// ErrClosed is returned by Submit, SubmitContext and Go after Shutdown.
var ErrClosed = errors.New("pool: closed")

// ErrQueueFull is returned by Submit, SubmitContext and Go when the pool has
// a queue limit with the FailFast policy and the queue is full.
var ErrQueueFull = errors.New("pool: queue full")

// PanicError is a task's recovered panic: the value passed to panic and the
// stack of the task's goroutine at the panic, which names the task's frame.
// Wait, Group.Wait and Worker.Join return one as an error, and the panic
// handler receives one. It is the same type the future package reports, so
// errors.As(err, new(*pool.PanicError)) matches a panic from either.
type PanicError = panics.Error

// Policy says what a submission does when the queue is at its limit.
type Policy uint8

const (
	// Block waits for room: Submit and Go until there is room,
	// SubmitContext until there is room or its ctx is done. Waiting
	// submitters get in first come, first served.
	Block Policy = iota
	// FailFast returns ErrQueueFull at once.
	FailFast
	// CallerRuns runs the task in the submitting goroutine before Submit
	// returns, which slows the submitter down to the pool's pace (Java's
	// ThreadPoolExecutor.CallerRunsPolicy). Its panic is recovered and
	// reported like any other task's.
	CallerRuns
)

// An Option configures a pool in New.
type Option func(*config)

type config struct {
	limit      int
	policy     Policy
	onPanic    func(*PanicError)
	starvation time.Duration // < 0: no monitor
	maxExtra   int
}

const (
	// defaultStarvation is how long every worker must sit in one task,
	// with work queued, before the pool adds a temporary worker.
	defaultStarvation = 10 * time.Millisecond
	// maxStarvation caps the interval, which doubles while injected
	// workers get stuck too.
	maxStarvation = time.Second
	// defaultMaxExtra caps temporary workers, as ForkJoinPool caps its
	// compensating threads (maximumPoolSize defaults to parallelism + 256).
	defaultMaxExtra = 256
)

func defaultConfig() config {
	return config{starvation: defaultStarvation, maxExtra: defaultMaxExtra}
}

// WithQueueLimit bounds the tasks submitted from outside the pool (Submit,
// SubmitContext, Go) that wait to start: at most n wait; a task stops
// waiting when a worker takes it to run. When the queue is full a
// submission follows policy. Tasks spawned by tasks (Worker.Spawn,
// Group.Go, Worker.Join) are never limited: fork-join inside the pool must
// not block on its own queue. n < 1 panics. The default is no limit.
func WithQueueLimit(n int, policy Policy) Option {
	if n < 1 {
		panic("pool: WithQueueLimit needs n >= 1")
	}
	if policy > CallerRuns {
		panic("pool: unknown Policy")
	}
	return func(c *config) { c.limit, c.policy = n, policy }
}

// WithPanicHandler sends every recovered panic of a task outside a Group to
// h, on the worker that ran the task, instead of keeping the first for
// Wait. h must not block for long: its worker runs no other task meanwhile.
// A panic in h itself is kept for Wait.
func WithPanicHandler(h func(*PanicError)) Option {
	return func(c *config) { c.onPanic = h }
}

// WithStarvationCheck sets how the pool finds tasks that block outside the
// pool (on a channel, a lock, I/O) while work is queued. When every worker
// has been inside one and the same task for a whole interval and tasks are
// waiting, the pool starts a temporary worker, as .NET's thread pool injects
// threads on starvation; the interval doubles (up to 1s) while the new
// workers get stuck too, and resets when a check finds progress. Temporary
// workers exit when they find no work. At most maxExtra run at once.
//
// The defaults are 10ms and 256. interval <= 0 or maxExtra < 1 turns the
// check off; then a task that blocks on work queued behind it in a pool
// with no free worker deadlocks, as it would in any fixed-size pool.
//
// A CPU-bound task that runs longer than the interval also looks stuck, so
// with long tasks and a deep queue the pool may run a few more workers than
// asked; raise the interval for such pools. A check that itself runs late
// by half an interval or more (the process was short of CPU, so the
// workers may have been descheduled rather than blocked) decides nothing.
// The checks run only while every worker is busy and tasks are queued.
func WithStarvationCheck(interval time.Duration, maxExtra int) Option {
	return func(c *config) {
		if interval <= 0 || maxExtra < 1 {
			c.starvation, c.maxExtra = -1, 0
			return
		}
		c.starvation, c.maxExtra = interval, maxExtra
	}
}
