package lockdep

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Contention statistics, switched on per lock at run time (diag.Watch).
//
// A watched lock's counters are found by address in an immutable
// open-addressing table that Watch and Unwatch replace under regMu
// (copy-on-write), so a lookup is a hash, one or two probes and no lock:
// unwatched locks that take the tracked path while something else is
// watched pay a few nanoseconds, and nothing at all while nothing is
// watched, because watching then stays false and Active keeps them on their
// fast paths.

// watchingWord is 1 while at least one lock is watched, else 0. It is a
// plain uint32 read with atomic.LoadUint32, not an atomic.Bool: Active is
// inlined into every lock's fast path, and the method wrapper costs
// inlining budget there.
var watchingWord uint32

// fastFreeWord and its siblings are what FastFree, FastFree64 and
// FastFreeInt32 return outside a debug build: 0, or all ones while
// watchingWord is 1. (One word per type, so that each function is a single
// load: they are inlined into fast paths whose inlining budget is nearly
// spent.)
var (
	fastFreeWord      uint32
	fastFreeWordInt32 int32
)

// FastFreeWord64 is FastFree64's word, exported for the one fast path that
// cannot afford even FastFree64's inlined call: rwlock.RWMutex.RLock reads
// it with atomic.LoadUint64 directly (the inlined call counts 4 more
// towards the inlining budget than the bare load, and RLock has none to
// spare). Read it only with atomic.LoadUint64, never write it, and test
// Enabled first: in a debug build every acquisition must take the tracked
// path (FastFree64 is the constant all-ones there), while this word is 0
// whenever nothing is watched.
var FastFreeWord64 uint64

// table is the current lookup table; nil while nothing is watched.
var table atomic.Pointer[watchTable]

var (
	regMu   sync.Mutex
	watched = map[uintptr]*Counters{} // guarded by regMu
)

type watchSlot struct {
	key uintptr
	c   *Counters
}

type watchTable struct {
	slots []watchSlot // power-of-two length, at most half full
	shift uint        // 64 - log2(len(slots))
}

// hash is Fibonacci hashing of the address (Knuth, TAOCP vol. 3, 6.4): the
// top bits of the product spread addresses that differ only in low bits.
func (t *watchTable) index(key uintptr) uintptr {
	return uintptr(uint64(key) * 0x9E3779B97F4A7C15 >> t.shift)
}

func lookup(p unsafe.Pointer) *Counters {
	if atomic.LoadUint32(&watchingWord) == 0 {
		return nil
	}
	t := table.Load()
	if t == nil {
		return nil
	}
	key := uintptr(p)
	mask := uintptr(len(t.slots) - 1)
	for i := t.index(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return s.c
		}
		if s.key == 0 {
			return nil
		}
	}
}

// rebuild publishes a table holding watched. Called with regMu held.
func rebuild() {
	if len(watched) == 0 {
		table.Store(nil)
		atomic.StoreUint32(&watchingWord, 0)
		atomic.StoreUint32(&fastFreeWord, 0)
		atomic.StoreUint64(&FastFreeWord64, 0)
		atomic.StoreInt32(&fastFreeWordInt32, 0)
		return
	}
	size, shift := 8, uint(61)
	for size < 2*len(watched) {
		size <<= 1
		shift--
	}
	t := &watchTable{slots: make([]watchSlot, size), shift: shift}
	mask := uintptr(size - 1)
	for key, c := range watched {
		i := t.index(key)
		for t.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = watchSlot{key: key, c: c}
	}
	table.Store(t)
	atomic.StoreUint32(&watchingWord, 1)
	atomic.StoreUint32(&fastFreeWord, ^uint32(0))
	atomic.StoreUint64(&FastFreeWord64, ^uint64(0))
	atomic.StoreInt32(&fastFreeWordInt32, -1)
}

// Counters are one watched lock's statistics.
type Counters struct {
	lock unsafe.Pointer // keeps the lock reachable while it is watched
	name string
	typ  string
	site string
	at   time.Time

	acquisitions  atomic.Uint64
	contended     atomic.Uint64
	handoffs      atomic.Uint64
	cancellations atomic.Uint64
	waitTotal     atomic.Int64
	waitMax       atomic.Int64

	// Pad to two cache lines (internal/cacheline's 128 B) so that two
	// watched locks' counters, written by different cores, do not share a
	// line.
	_ [128 - 8*6]byte
}

func (c *Counters) acquired(waited bool, start int64) {
	c.acquisitions.Add(1)
	if waited {
		c.contended.Add(1)
		c.addWait(now() - start)
	}
}

func (c *Counters) canceled(waited bool, start int64) {
	c.cancellations.Add(1)
	if waited {
		c.addWait(now() - start)
	}
}

func (c *Counters) addWait(d int64) {
	c.waitTotal.Add(d)
	for {
		m := c.waitMax.Load()
		if d <= m || c.waitMax.CompareAndSwap(m, d) {
			return
		}
	}
}

// Snapshot is a copy of one watched lock's counters.
type Snapshot struct {
	Name, Type, Site string
	Since            time.Time
	Acquisitions     uint64
	Contended        uint64
	Handoffs         uint64
	Cancellations    uint64
	TotalWait        time.Duration
	MaxWait          time.Duration
}

func (c *Counters) snapshot() Snapshot {
	// Each pair is read in the reverse of the order in which the writers
	// add to it, so a snapshot taken under load is never inconsistent in
	// these two ways: contended before acquisitions (acquired adds to them
	// in the other order), so it never shows more contended acquisitions
	// than acquisitions; the longest wait before the total (addWait), so
	// it never shows a longest wait above the total.
	contended := c.contended.Load()
	maxWait := c.waitMax.Load()
	return Snapshot{
		Name:          c.name,
		Type:          c.typ,
		Site:          c.site,
		Since:         c.at,
		Acquisitions:  c.acquisitions.Load(),
		Contended:     contended,
		Handoffs:      c.handoffs.Load(),
		Cancellations: c.cancellations.Load(),
		TotalWait:     time.Duration(c.waitTotal.Load()),
		MaxWait:       time.Duration(maxWait),
	}
}

// Watch starts counting for the lock at p (or renames it and restarts its
// counters if it is already watched). typ and site describe it in
// snapshots.
func Watch(p unsafe.Pointer, name, typ, site string) {
	regMu.Lock()
	defer regMu.Unlock()
	watched[uintptr(p)] = &Counters{lock: p, name: name, typ: typ, site: site, at: time.Now()}
	rebuild()
}

// Unwatch stops counting for the lock at p and reports whether it was
// watched.
func Unwatch(p unsafe.Pointer) bool {
	regMu.Lock()
	defer regMu.Unlock()
	if _, ok := watched[uintptr(p)]; !ok {
		return false
	}
	delete(watched, uintptr(p))
	rebuild()
	return true
}

// Stats returns the counters of the lock at p, if it is watched.
func Stats(p unsafe.Pointer) (Snapshot, bool) {
	if c := lookup(p); c != nil {
		return c.snapshot(), true
	}
	return Snapshot{}, false
}

// Top returns snapshots of the n most contended watched locks (all of them
// when n < 0): by total wait, then by contended acquisitions, then by name.
func Top(n int) []Snapshot {
	regMu.Lock()
	all := make([]Snapshot, 0, len(watched))
	for _, c := range watched {
		all = append(all, c.snapshot())
	}
	regMu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		a, b := &all[i], &all[j]
		if a.TotalWait != b.TotalWait {
			return a.TotalWait > b.TotalWait
		}
		if a.Contended != b.Contended {
			return a.Contended > b.Contended
		}
		return a.Name < b.Name
	})
	if n >= 0 && n < len(all) {
		all = all[:n]
	}
	return all
}
