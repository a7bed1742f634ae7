package future_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockstep-go/lockstep/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// workers is a small fixed-size executor for the tests: n goroutines
// draining one channel (Submit blocks while it is full, holding mu, which
// the workers never take). Close stops accepting, runs what was queued and
// waits for the goroutines, so goleak sees none left.
type workers struct {
	mu     sync.Mutex
	closed bool
	tasks  chan func()
	wg     sync.WaitGroup
	ran    atomic.Int64
}

var errWorkersClosed = errors.New("workers: closed")

func newWorkers(n int) *workers {
	w := &workers{tasks: make(chan func(), 1024)}
	for range n {
		w.wg.Go(func() {
			for task := range w.tasks {
				task()
				w.ran.Add(1)
			}
		})
	}
	return w
}

func (w *workers) Submit(task func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWorkersClosed
	}
	w.tasks <- task
	return nil
}

func (w *workers) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.tasks)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *workers) Ran() int64 { return w.ran.Load() }
