package waitq_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/testutil"
	"github.com/lockstep-go/lockstep/internal/waitq"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// sema is the smallest primitive built on waitq: a weighted FIFO semaphore.
// The contract tests below drive it.
type sema struct {
	mu    sync.Mutex
	avail int64
	q     waitq.Queue
}

func (s *sema) acquire(ctx context.Context, n int64) error {
	s.mu.Lock()
	if err := waitq.Err(ctx); err != nil {
		s.mu.Unlock()
		return err
	}
	if s.q.Len() == 0 && s.avail >= n {
		s.avail -= n
		s.mu.Unlock()
		return nil
	}
	w := s.q.Enqueue(n)
	return s.q.Wait(ctx, &s.mu, w, func(wasFront bool) {
		if wasFront {
			s.grant()
		}
	})
}

// grant wakes waiters from the front while they fit. Called with s.mu held.
func (s *sema) grant() {
	for w := s.q.Front(); w != nil && s.avail >= w.Value; w = s.q.Front() {
		s.avail -= w.Value
		s.q.Wake(w)
	}
}

func (s *sema) release(n int64) {
	s.mu.Lock()
	s.avail += n
	s.grant()
	s.mu.Unlock()
}

// Cancel-versus-grant races: afterwards every permit is back and no waiter
// is left in the queue; concurrency never exceeded capacity.
func TestCancelVersusGrant(t *testing.T) {
	const capacity = 3
	s := &sema{avail: capacity}
	var held atomic.Int64
	var over, granted, cancelled atomic.Int64
	iters := testutil.Scale(20000)
	testutil.Run(t, 8, func(id int) {
		r := rand.New(rand.NewPCG(uint64(id), 1))
		for range iters {
			n := 1 + r.Int64N(capacity)
			ctx, cancel := context.WithCancel(context.Background())
			switch r.IntN(3) {
			case 0:
				go cancel() // races with the grant
			case 1:
				runtime.Gosched()
			}
			err := s.acquire(ctx, n)
			cancel()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("acquire: %v, want context.Canceled", err)
				}
				cancelled.Add(1)
				continue
			}
			granted.Add(1)
			if held.Add(n) > capacity {
				over.Add(1)
			}
			held.Add(-n)
			s.release(n)
		}
	})
	if over.Load() != 0 {
		t.Fatalf("capacity exceeded %d times", over.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.avail != capacity || s.q.Len() != 0 {
		t.Fatalf("after the races: avail = %d, queued = %d; want %d, 0", s.avail, s.q.Len(), capacity)
	}
	t.Logf("granted %d, cancelled %d", granted.Load(), cancelled.Load())
}

// golang/go#37852: a big waiter at the front blocks a small one behind it;
// when the big one gives up, the small one must be woken. Without the
// abandon callback the small waiter would be stranded.
func TestCancelledFrontWakesWaitersBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sema{avail: 1}
		ctx, cancel := context.WithCancel(context.Background())
		bigErr := make(chan error, 1)
		go func() { bigErr <- s.acquire(ctx, 2) }()
		synctest.Wait()
		smallErr := make(chan error, 1)
		go func() { smallErr <- s.acquire(context.Background(), 1) }()
		synctest.Wait()
		select {
		case <-smallErr:
			t.Fatal("small waiter jumped the big one at the front")
		default:
		}
		cancel()
		if err := <-bigErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("big waiter: %v, want context.Canceled", err)
		}
		if err := <-smallErr; err != nil {
			t.Fatalf("small waiter: %v", err)
		}
		s.release(1)
	})
}

func TestDoneContextFailsEvenWhenFree(t *testing.T) {
	s := &sema{avail: 5}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a done ctx: %v", err)
	}
	if s.avail != 5 {
		t.Fatalf("a failed acquire changed the state: avail = %d", s.avail)
	}
}

func TestDeadlineOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sema{}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		err := s.acquire(ctx, 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("acquire: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("gave up after %v of fake time, want 3s", d)
		}
		if s.q.Len() != 0 {
			t.Fatal("timed-out waiter left in the queue")
		}
	})
}

// A wake that lands while the waiter is between ctx.Done firing and
// re-taking the lock wins: Wait reports success and the grant is kept.
func TestWakeBeatsCancellation(t *testing.T) {
	var mu sync.Mutex
	var q waitq.Queue
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mu.Lock()
	w := q.Enqueue(0)
	q.Wake(w) // woken and cancelled before Wait even looks
	if err := q.Wait(ctx, &mu, w, func(bool) { t.Error("abandon ran for a woken waiter") }); err != nil {
		t.Fatalf("Wait = %v, want nil: the wake must win", err)
	}
}

func TestErrCarriesCause(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	err := waitq.Err(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("Err = %v; want it to match both context.Canceled and the cause", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if waitq.Err(ctx2) != context.Canceled {
		t.Fatalf("without a cause Err = %v, want context.Canceled itself", waitq.Err(ctx2))
	}
	if waitq.Err(context.Background()) != nil {
		t.Fatal("Err of a live ctx is not nil")
	}
}

// The queue against a slice model: every sequence of operations keeps the
// same order, length and front.
func TestQueueModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q waitq.Queue
		var model []*waitq.Waiter
		next := int64(0)
		t.Repeat(map[string]func(*rapid.T){
			"enqueue": func(t *rapid.T) {
				next++
				model = append(model, q.Enqueue(next))
			},
			"enqueueFront": func(t *rapid.T) {
				next++
				model = append([]*waitq.Waiter{q.EnqueueFront(next)}, model...)
			},
			"wake": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("empty")
				}
				i := rapid.IntRange(0, len(model)-1).Draw(t, "i")
				q.Wake(model[i])
				model = append(model[:i], model[i+1:]...)
			},
			"cancel": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("empty")
				}
				i := rapid.IntRange(0, len(model)-1).Draw(t, "i")
				q.Cancel(model[i])
				model = append(model[:i], model[i+1:]...)
			},
			"wakeAll": func(t *rapid.T) {
				if n := q.WakeAll(); n != len(model) {
					t.Fatalf("WakeAll woke %d, want %d", n, len(model))
				}
				model = nil
			},
			"": func(t *rapid.T) {
				if q.Len() != len(model) {
					t.Fatalf("Len = %d, want %d", q.Len(), len(model))
				}
				i := 0
				for w := q.Front(); w != nil; w = w.Next() {
					if i >= len(model) || w != model[i] {
						t.Fatalf("queue order differs from the model at %d", i)
					}
					i++
				}
				if i != len(model) {
					t.Fatalf("walked %d waiters, want %d", i, len(model))
				}
			},
		})
	})
}

func TestMisusePanics(t *testing.T) {
	var q waitq.Queue
	w := q.Enqueue(1)
	q.Wake(w)
	for name, f := range map[string]func(){
		"wake twice":     func() { q.Wake(w) },
		"cancel a woken": func() { q.Cancel(w) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
