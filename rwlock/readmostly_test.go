package rwlock_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstep-go/lockstep/internal/cacheline"
	"github.com/lockstep-go/lockstep/rwlock"
)

// The zero value is unbiased; the first read takes the underlying lock and
// turns the bias on; later reads use the counters.
func TestReadMostlyBiasOnFirstRead(t *testing.T) {
	var m rwlock.ReadMostly
	if rwlock.Biased(&m) {
		t.Fatal("zero value is biased")
	}
	first := m.RLock()
	if first.Biased() {
		t.Fatal("first read used a counter before any table existed")
	}
	if !rwlock.Biased(&m) {
		t.Fatal("first read did not turn the bias on")
	}
	second := m.RLock()
	if !second.Biased() {
		t.Fatal("second read did not use a counter")
	}
	if sum, n := rwlock.Counters(&m); sum != 1 || n < 4 || n&(n-1) != 0 {
		t.Fatalf("counters: sum %d over %d slots, want 1 over a power of two >= 4", sum, n)
	}
	m.RUnlock(first)
	m.RUnlock(second)
	mustBeFree(t, rmAdapter{&m})
}

// The counter table: 4 x GOMAXPROCS counters rounded up to a power of two,
// each alone on a padding unit.
func TestReadMostlyLayout(t *testing.T) {
	if rwlock.SlotSize != cacheline.Size {
		t.Fatalf("a counter takes %d bytes, want %d", rwlock.SlotSize, cacheline.Size)
	}
	if rwlock.BiasOffset%cacheline.Size != 0 || rwlock.AfterBiasOffset-rwlock.BiasOffset < cacheline.Size {
		t.Fatalf("bias at %d, next field at %d: bias shares a line", rwlock.BiasOffset, rwlock.AfterBiasOffset)
	}
	var m rwlock.ReadMostly
	m.RUnlock(m.RLock())
	_, n := rwlock.Counters(&m)
	want := 1
	for want < 4*runtime.GOMAXPROCS(0) {
		want *= 2
	}
	if n != min(want, 1024) {
		t.Fatalf("%d counters with GOMAXPROCS=%d, want %d", n, runtime.GOMAXPROCS(0), want)
	}
}

// Concurrent readers land on different counters: that is the point.
func TestReadMostlyReadersSpread(t *testing.T) {
	var m rwlock.ReadMostly
	m.RUnlock(m.RLock())
	const readers = 8
	toks := make(chan rwlock.RToken, readers)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range readers {
		// Each reader stays alive until all have read: a goroutine that
		// exited would hand its stack, and so its counter, to the next.
		wg.Go(func() {
			toks <- m.RLock()
			<-release
		})
	}
	all := make([]rwlock.RToken, 0, readers)
	for range readers {
		all = append(all, <-toks)
	}
	close(release)
	wg.Wait()
	seen := map[rwlock.RToken]bool{}
	for _, tok := range all {
		if !tok.Biased() {
			t.Fatal("a reader took the underlying lock while the bias was on")
		}
		seen[tok] = true
	}
	if len(seen) < 2 {
		t.Fatalf("%d readers on distinct goroutines all used one counter", readers)
	}
	for _, tok := range all {
		m.RUnlock(tok)
	}
	mustBeFree(t, rmAdapter{&m})
}

// A writer revokes the bias, waits (parked, not spinning) for a reader
// counted before, and then keeps the bias off for inhibitFactor times the
// revocation's duration (BRAVO's inhibit period), after which a reader
// turns it back on.
func TestReadMostlyRevocationAndInhibit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m rwlock.ReadMostly
		m.RUnlock(m.RLock())
		tok := m.RLock()
		if !tok.Biased() {
			t.Fatal("read not biased")
		}
		locked := make(chan struct{})
		go func() { m.Lock(); close(locked) }()
		synctest.Wait()
		if rwlock.DrainWaiters(&m) != 1 {
			t.Fatal("the writer is not parked waiting for the counters")
		}
		if rwlock.Biased(&m) {
			t.Fatal("the bias is still on while a writer waits")
		}
		// A new reader now queues behind the writer.
		late := make(chan rwlock.RToken, 1)
		go func() { late <- m.RLock() }()
		synctest.Wait()
		if len(late) != 0 {
			t.Fatal("a reader got in while a writer revoked the bias")
		}
		const revocation = time.Second
		time.Sleep(revocation) // the reader holds on for a (fake) second
		m.RUnlock(tok)
		<-locked
		if got := rwlock.InhibitLeft(&m); got != rwlock.InhibitFactor*revocation {
			t.Fatalf("inhibit period %v, want %v", got, rwlock.InhibitFactor*revocation)
		}
		m.Unlock()
		lt := <-late
		if lt.Biased() || rwlock.Biased(&m) {
			t.Fatal("the bias came back during the inhibit period")
		}
		m.RUnlock(lt)
		// Only one reader in clockSample looks at the clock: many reads
		// before the end must all leave the bias off, and one of a few
		// hundred after it turns it on ((7/8)^500 of failing by chance).
		time.Sleep(rwlock.InhibitFactor*revocation - time.Millisecond)
		for range 500 {
			m.RUnlock(m.RLock())
		}
		if rwlock.Biased(&m) {
			t.Fatal("the bias came back before the inhibit period ended")
		}
		time.Sleep(time.Millisecond)
		for i := 0; !rwlock.Biased(&m); i++ {
			if i == 500 {
				t.Fatal("the bias did not come back after the inhibit period")
			}
			m.RUnlock(m.RLock())
		}
		mustBeFree(t, rmAdapter{&m})
	})
}

// A writer cancelled while it waits for counted readers puts the bias back
// (as if never called) and admits the readers that queued behind it.
func TestReadMostlyCancelDuringRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m rwlock.ReadMostly
		m.RUnlock(m.RLock())
		tok := m.RLock()
		ctx, cancel := context.WithCancel(context.Background())
		werr := make(chan error, 1)
		go func() { werr <- m.LockContext(ctx) }()
		synctest.Wait()
		const n = 3
		in := make(chan rwlock.RToken, n)
		for range n {
			go func() { in <- m.RLock() }()
		}
		synctest.Wait()
		if len(in) != 0 {
			t.Fatal("readers got in during a revocation")
		}
		cancel()
		synctest.Wait()
		if err := <-werr; !errors.Is(err, context.Canceled) {
			t.Fatalf("LockContext: %v", err)
		}
		if len(in) != n {
			t.Fatalf("%d of %d queued readers admitted after the writer gave up", len(in), n)
		}
		if !rwlock.Biased(&m) {
			t.Fatal("the cancelled writer left the bias off")
		}
		for range n {
			m.RUnlock(<-in)
		}
		m.RUnlock(tok)
		mustBeFree(t, rmAdapter{&m})
	})
}

// A writer queued behind a reader that holds the underlying lock turns the
// bias off, so new readers queue behind it as on an RWMutex; if it gives
// up, the bias comes back.
func TestReadMostlyQueuedWriterClosesBias(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m rwlock.ReadMostly
		under := m.RLock() // the first read holds the underlying lock
		if under.Biased() || !rwlock.Biased(&m) {
			t.Fatal("setup: want an underlying read and the bias on")
		}
		ctx, cancel := context.WithCancel(context.Background())
		werr := make(chan error, 1)
		go func() { werr <- m.LockContext(ctx) }()
		synctest.Wait()
		if rwlock.Biased(&m) {
			t.Fatal("a queued writer left the bias on")
		}
		if _, ok := m.TryRLock(); ok {
			t.Fatal("TryRLock passed a queued writer")
		}
		cancel()
		synctest.Wait()
		if err := <-werr; !errors.Is(err, context.Canceled) {
			t.Fatalf("LockContext: %v", err)
		}
		if !rwlock.Biased(&m) {
			t.Fatal("the bias stayed off after the only queued writer gave up")
		}
		m.RUnlock(under)
		mustBeFree(t, rmAdapter{&m})
	})
}

// TryLock that finds a counted reader fails and leaves the bias on.
func TestReadMostlyTryLockKeepsBias(t *testing.T) {
	var m rwlock.ReadMostly
	m.RUnlock(m.RLock())
	tok := m.RLock()
	if m.TryLock() {
		t.Fatal("TryLock succeeded next to a counted reader")
	}
	if !rwlock.Biased(&m) {
		t.Fatal("a failed TryLock left the bias off")
	}
	m.RUnlock(tok)
	if !m.TryLock() {
		t.Fatal("TryLock failed on a free lock")
	}
	if rwlock.Biased(&m) {
		t.Fatal("bias on while a writer holds the lock")
	}
	m.Unlock()
	mustBeFree(t, rmAdapter{&m})
}

// A read token may be released by another goroutine.
func TestReadMostlyTokenCrossesGoroutines(t *testing.T) {
	var m rwlock.ReadMostly
	m.RUnlock(m.RLock())
	tok := m.RLock()
	done := make(chan struct{})
	go func() { m.RUnlock(tok); close(done) }()
	<-done
	mustBeFree(t, rmAdapter{&m})
}
