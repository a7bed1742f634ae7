//go:build lockstep_debug

package lockdep

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"
)

// Enabled reports whether this is a debug build (-tags lockstep_debug).
const Enabled = true

// The lock-order checker (the design follows Linux's lockdep,
// Documentation/locking/lockdep-design.rst in torvalds/linux).
//
// Every acquisition is recorded per goroutine (the goroutine id parsed from
// runtime.Stack's header: Go has no goroutine-local storage, and this is a
// debug build). A blocking acquisition of lock L while holding H adds the
// edge H -> L to a global graph; an edge that closes a cycle is an
// inversion, reported with the acquisition stacks of every edge on the
// cycle, and is not added.
//
// The nodes of the graph ("classes") are lock instances, unless
// diag.SetName puts several locks into one named class. lockdep's classes
// are creation sites, which a zero-value Go lock does not have; the nearest
// observable key, the site of a lock's first acquisition, splits one
// logical class at random and reports orders that are consistent: locks
// always taken in index order (lock(min), then lock(max)) get the class of
// whichever line first locked each, and two such locks, each first locked
// at the other line, form a cycle L1 -> L2 -> L1 that no schedule can
// deadlock on. Instances never give a false cycle; a named class gives
// lockdep's generalisation (one inversion found for all its instances) where
// the user says the instances are alike. Edges between locks of one named
// class are not recorded (hand-over-hand traversal would otherwise always
// look like a cycle).
//
// Everything below is guarded by mu, a sync.Mutex (never a lockstep lock:
// the checker must not call itself). Reports are delivered after mu is
// released, in the goroutine that caused them (long waits: in the timer's
// goroutine).

var (
	mu         sync.Mutex
	locks      = map[uintptr]*lockState{}
	goroutines = map[int64]*gstate{}
	classes    = map[string]*class{} // named classes
	reported   = map[string]bool{}   // findings already reported, by key
	swept      = 0                   // len(locks) after the last sweep
	// retired are records of collected locks that stateOf replaced with a
	// new lock's record at the same address: no longer in locks, so sweep
	// would not see them, but edges into their classes remain to prune.
	retired []*lockState
)

var (
	handler  atomic.Pointer[func(*Report)]
	longWait atomic.Int64 // nanoseconds; 0: off
)

// DefaultLongWait is the long-wait threshold until SetLongWait changes it.
const DefaultLongWait = 30 * time.Second

func init() { longWait.Store(int64(DefaultLongWait)) }

// SetHandler sets the function that receives reports; nil restores the
// default, which writes them to standard error.
func SetHandler(h func(*Report)) {
	if h == nil {
		handler.Store(nil)
		return
	}
	handler.Store(&h)
}

// SetLongWait sets the long-wait threshold; 0 turns long-wait reports off.
func SetLongWait(d time.Duration) { longWait.Store(int64(max(d, 0))) }

// lockState is the checker's record of one lock, keyed by its address.
type lockState struct {
	w       weak.Pointer[byte] // the lock; nil once it is collected
	typ     *Type
	cls     *class // nil until the first acquisition or SetName
	unowned bool
	holders []*acq // current holds: one writer, or readers
	waiters []*acq // acquisitions waiting for it
}

// class is a node of the lock-order graph: one lock, or every lock given
// one name.
type class struct {
	name  string
	named bool
	out   map[*class]*edge
}

// edge records the first time its order was seen: the classes it joins,
// the acquisition of the held lock (from) and the acquisition made while
// holding it (to).
type edge struct {
	fromCls, toCls *class
	from, to       *acq
}

// acq is one acquisition (or attempt) by one goroutine.
type acq struct {
	gid     int64
	ls      *lockState
	mode    Mode
	pcs     []uintptr
	waiting bool
	since   time.Time // when the wait began, for long-wait reports
	timer   *time.Timer
}

type gstate struct {
	held []*acq
}

type depToken = *acq

// goid returns the calling goroutine's id, parsed from the header line
// runtime.Stack writes first ("goroutine 18 [running]:").
func goid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	b = b[len("goroutine "):]
	var id int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + int64(c-'0')
	}
	return id
}

func callers() []uintptr {
	var pcs [48]uintptr
	n := runtime.Callers(3, pcs[:])
	return append([]uintptr(nil), pcs[:n]...)
}

const module = "github.com/lockstep-go/lockstep/"

// internalFunc reports whether fn is a function of lockstep's lock packages
// or of its internals, which stack traces and lock classes skip.
func internalFunc(fn string) bool {
	rest, ok := strings.CutPrefix(fn, module)
	if !ok {
		return strings.HasPrefix(fn, "runtime.")
	}
	for _, p := range [...]string{"internal/", "spin.", "mutex.", "rwlock.", "semaphore.", "diag."} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// site returns the first frame of pcs outside lockstep's lock packages.
func site(pcs []uintptr) runtime.Frame {
	frames := runtime.CallersFrames(pcs)
	var last runtime.Frame
	for {
		f, more := frames.Next()
		if f.Function != "" && !internalFunc(f.Function) {
			return f
		}
		last = f
		if !more {
			return last
		}
	}
}

// formatStack formats pcs as a traceback, from the first frame outside
// lockstep's lock packages.
func formatStack(pcs []uintptr) string {
	var b strings.Builder
	frames := runtime.CallersFrames(pcs)
	skipping := true
	for {
		f, more := frames.Next()
		if skipping && internalFunc(f.Function) && more {
			continue
		}
		skipping = false
		if f.Function == "runtime.goexit" {
			break
		}
		fmt.Fprintf(&b, "%s(...)\n\t%s:%d\n", f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
	return b.String()
}

// stateOf returns the record of the lock at p, creating it, or replacing a
// record left by a collected lock whose address was reused. Called with mu
// held.
func stateOf(p unsafe.Pointer, t *Type) *lockState {
	key := uintptr(p)
	ls := locks[key]
	if ls != nil && ls.w.Value() == (*byte)(p) {
		if ls.typ == nil {
			ls.typ = t
		}
		return ls
	}
	if ls != nil {
		retired = append(retired, ls) // collected; p is a new lock
	}
	if len(locks)+len(retired) >= 2*swept+1024 {
		sweep()
	}
	ls = &lockState{w: weak.Make((*byte)(p)), typ: t}
	locks[key] = ls
	return ls
}

// sweep forgets the locks that were garbage collected, and the edges to
// them: no goroutine can wait for them any more. It runs when the number of
// locks (counting records replaced at a reused address) has doubled, so
// its cost is amortised over the acquisitions that created them. Called
// with mu held.
func sweep() {
	dead := map[*class]bool{}
	for _, ls := range retired {
		if ls.cls != nil && !ls.cls.named {
			dead[ls.cls] = true
		}
	}
	clear(retired)
	retired = retired[:0]
	for k, ls := range locks {
		if ls.w.Value() == nil {
			delete(locks, k)
			if ls.cls != nil && !ls.cls.named {
				dead[ls.cls] = true
			}
		}
	}
	if len(dead) > 0 {
		prune := func(c *class) {
			for to := range c.out {
				if dead[to] {
					delete(c.out, to)
				}
			}
		}
		for _, ls := range locks {
			if ls.cls != nil && !ls.cls.named {
				prune(ls.cls)
			}
		}
		for _, c := range classes {
			prune(c)
		}
	}
	swept = len(locks)
}

// classify gives ls its own class at its first acquisition, unless it was
// named. Called with mu held.
func classify(ls *lockState, p unsafe.Pointer, pcs []uintptr) {
	if ls.cls != nil {
		return
	}
	f := site(pcs)
	name := fmt.Sprintf("%s %#x (first locked at %s:%d)", ls.typ.Name, uintptr(p), filepath.Base(f.File), f.Line)
	ls.cls = &class{name: name, out: map[*class]*edge{}}
}

func classOf(name string) *class {
	c := classes[name]
	if c == nil {
		c = &class{name: name, named: true, out: map[*class]*edge{}}
		classes[name] = c
	}
	return c
}

// siteOf returns the file:line where pcs left lockstep's lock packages: the
// code location that findings are reported once for.
func siteOf(pcs []uintptr) string {
	f := site(pcs)
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

func (ls *lockState) name() string { return fmt.Sprintf("%q", ls.cls.name) }

// isUnowned reports whether goroutines release the lock for each other by
// design: its type says so (semaphores) or SetUnowned marked it.
func (ls *lockState) isUnowned() bool { return ls.unowned || (ls.typ != nil && ls.typ.Unowned) }

// SetName puts the lock at p in the class called name (all locks given
// one name form one class).
func SetName(p unsafe.Pointer, name string) {
	mu.Lock()
	defer mu.Unlock()
	stateOf(p, nil).cls = classOf(name)
}

// SetUnowned marks the lock at p as released by other goroutines by
// design: such releases are not reported.
func SetUnowned(p unsafe.Pointer) {
	mu.Lock()
	defer mu.Unlock()
	stateOf(p, nil).unowned = true
}

// Reset forgets the lock order learned so far and which findings were
// reported; locks keep their classes and holds.
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	for _, ls := range locks {
		if ls.cls != nil {
			clear(ls.cls.out)
		}
	}
	for _, c := range classes {
		clear(c.out)
	}
	clear(reported)
}

func deliver(rs []*Report) {
	delivered := 0
	defer func() {
		if delivered < len(rs) {
			// The handler panicked (diag's Config.Panic) or ended the
			// goroutine at rs[delivered]: the findings after it were never
			// seen, so they must not count as reported.
			mu.Lock()
			for _, r := range rs[delivered+1:] {
				delete(reported, r.key)
			}
			mu.Unlock()
		}
	}()
	for _, r := range rs {
		if h := handler.Load(); h != nil {
			(*h)(r)
		} else {
			os.Stderr.WriteString(r.String())
		}
		delivered++
	}
}

func depAcquire(p unsafe.Pointer, t *Type, m Mode) *acq {
	if m == Counted {
		return nil
	}
	a := &acq{gid: goid(), mode: m, pcs: callers()}
	mu.Lock()
	ls := stateOf(p, t)
	classify(ls, p, a.pcs)
	a.ls = ls
	var rs []*Report
	if g := goroutines[a.gid]; g != nil {
		rs = checkOrder(g, a)
	}
	mu.Unlock()
	deliver(rs)
	return a
}

// checkOrder checks a blocking acquisition a against the locks its
// goroutine holds. Called with mu held.
func checkOrder(g *gstate, a *acq) []*Report {
	var rs []*Report
	recursive := false
	for _, h := range g.held {
		if h.ls == a.ls {
			recursive = true
			// An unowned lock (a semaphore, diag.Unowned) is released by
			// other goroutines by design: a goroutine that acquires it
			// while its earlier hold is out with another goroutine (a
			// permit handed to a worker) waits for that release, not for
			// itself. No report.
			if !a.ls.isUnowned() {
				if r := recursion(h, a); r != nil {
					rs = append(rs, r)
				}
			}
		}
	}
	if recursive {
		// Every lock taken after the first hold of a.ls is ordered after
		// it already: an edge from one of them back to a.ls would close a
		// cycle with the goroutine's own order, an "inversion" that is
		// this recursion again (lockdep stops at the recursion too).
		return rs
	}
	for i, h := range g.held {
		from, to := h.ls.cls, a.ls.cls
		if from == to || from.out[to] != nil {
			continue
		}
		dup := false
		for _, o := range g.held[i+1:] {
			dup = dup || o.ls.cls == from
		}
		if dup {
			continue // the latest hold of that class gets the edge
		}
		if path := findPath(to, from); path != nil {
			if r := inversion(h, a, path); r != nil {
				rs = append(rs, r)
			}
			continue // never record an edge that closes a cycle
		}
		from.out[to] = &edge{fromCls: from, toCls: to, from: h, to: a}
	}
	return rs
}

// findPath returns the edges of a shortest path from src to dst, or nil:
// breadth first, so that a report shows the tightest cycle.
func findPath(src, dst *class) []*edge {
	via := map[*class]*edge{src: nil}
	queue := []*class{src}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for next, e := range c.out {
			if _, seen := via[next]; seen {
				continue
			}
			via[next] = e
			if next == dst {
				var path []*edge
				for n := dst; n != src; n = via[n].fromCls {
					path = append(path, via[n])
				}
				slices.Reverse(path)
				return path
			}
			queue = append(queue, next)
		}
	}
	return nil
}

func once(key string) bool {
	if reported[key] {
		return false
	}
	reported[key] = true
	return true
}

func inversion(h, a *acq, path []*edge) *Report {
	key := "inversion " + siteOf(h.pcs) + " " + siteOf(a.pcs)
	for _, e := range path {
		key += " " + siteOf(e.from.pcs) + " " + siteOf(e.to.pcs)
	}
	if !once(key) {
		return nil
	}
	held, want := h.ls.name(), a.ls.name()
	r := &Report{Kind: Inversion, key: key}
	r.Locks = append(r.Locks, h.ls.cls.name, a.ls.cls.name)
	for _, e := range path[:len(path)-1] {
		r.Locks = append(r.Locks, e.toCls.name)
	}
	order := make([]string, len(r.Locks))
	for i, n := range r.Locks {
		order[i] = fmt.Sprintf("%q", n)
	}
	if len(path) == 1 {
		r.Message = fmt.Sprintf("goroutine %d locks %s while holding %s, but %s was locked while holding %s before: "+
			"goroutines that take these locks at the same time can deadlock", a.gid, want, held, held, want)
	} else {
		r.Message = fmt.Sprintf("goroutine %d locks %s while holding %s, but earlier acquisitions ordered them the other way "+
			"round (cycle %s -> %s): goroutines that take these locks at the same time can deadlock",
			a.gid, want, held, strings.Join(order, " -> "), order[0])
	}
	r.Stacks = append(r.Stacks,
		Stack{Title: fmt.Sprintf("goroutine %d locked %s here:", h.gid, held), Goroutine: h.gid, Text: formatStack(h.pcs)},
		Stack{Title: fmt.Sprintf("then, holding %s, goroutine %d locks %s here:", held, a.gid, want), Goroutine: a.gid, Text: formatStack(a.pcs)})
	for _, e := range path {
		f, t := fmt.Sprintf("%q", e.fromCls.name), fmt.Sprintf("%q", e.toCls.name)
		r.Stacks = append(r.Stacks,
			Stack{Title: fmt.Sprintf("earlier, goroutine %d locked %s here:", e.from.gid, f), Goroutine: e.from.gid, Text: formatStack(e.from.pcs)},
			Stack{Title: fmt.Sprintf("then, holding %s, goroutine %d locked %s here:", f, e.to.gid, t), Goroutine: e.to.gid, Text: formatStack(e.to.pcs)})
	}
	return r
}

func recursion(h, a *acq) *Report {
	key := fmt.Sprintf("recursion %s %s %d %d", siteOf(h.pcs), siteOf(a.pcs), h.mode, a.mode)
	if !once(key) {
		return nil
	}
	name := a.ls.name()
	var why string
	if h.mode == Read && a.mode == Read {
		why = "a read lock is not recursive: a writer that queues between the two read locks waits for the first, and the second waits for the writer"
	} else {
		why = "the goroutine waits for itself (forever, or until the context of a LockContext ends)"
	}
	return &Report{
		key:     key,
		Kind:    Recursion,
		Message: fmt.Sprintf("goroutine %d %s-locks %s, which it already holds for %s: %s", a.gid, a.mode, name, h.mode, why),
		Locks:   []string{a.ls.cls.name},
		Stacks: []Stack{
			{Title: fmt.Sprintf("goroutine %d locked %s here:", h.gid, name), Goroutine: h.gid, Text: formatStack(h.pcs)},
			{Title: "and locks it again here:", Goroutine: a.gid, Text: formatStack(a.pcs)},
		},
	}
}

func depWait(a *acq) {
	if a == nil {
		return
	}
	d := time.Duration(longWait.Load())
	mu.Lock()
	defer mu.Unlock()
	a.waiting = true
	a.since = time.Now()
	a.ls.waiters = append(a.ls.waiters, a)
	if d > 0 {
		a.timer = time.AfterFunc(d, func() { reportLongWait(a, d) })
	}
}

// endWait stops a's wait, if it waited. Called with mu held.
func endWait(a *acq) {
	if !a.waiting {
		return
	}
	a.waiting = false
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.ls.waiters = remove(a.ls.waiters, a)
}

func remove(s []*acq, a *acq) []*acq {
	for i, x := range s {
		if x == a {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

func depAcquired(a *acq) {
	if a == nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	endWait(a)
	hold(a)
}

// hold records a as held. Called with mu held.
func hold(a *acq) {
	a.ls.holders = append(a.ls.holders, a)
	g := goroutines[a.gid]
	if g == nil {
		g = &gstate{}
		goroutines[a.gid] = g
	}
	g.held = append(g.held, a)
}

func depCanceled(a *acq) {
	if a == nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	endWait(a)
}

func depTryAcquired(p unsafe.Pointer, t *Type, m Mode) {
	if m == Counted {
		return
	}
	a := &acq{gid: goid(), mode: m, pcs: callers()}
	mu.Lock()
	defer mu.Unlock()
	a.ls = stateOf(p, t)
	classify(a.ls, p, a.pcs)
	hold(a)
}

// unhold removes the hold h. Called with mu held.
func unhold(h *acq) {
	h.ls.holders = remove(h.ls.holders, h)
	if g := goroutines[h.gid]; g != nil {
		if g.held = remove(g.held, h); len(g.held) == 0 {
			delete(goroutines, h.gid)
		}
	}
}

func depReleaseOwn(p unsafe.Pointer, m Mode) {
	gid := goid()
	mu.Lock()
	defer mu.Unlock()
	ls := locks[uintptr(p)]
	if ls == nil || ls.w.Value() != (*byte)(p) {
		return
	}
	for i := len(ls.holders) - 1; i >= 0; i-- {
		if h := ls.holders[i]; h.mode == m && h.gid == gid {
			unhold(h)
			return
		}
	}
}

func depRelease(p unsafe.Pointer, t *Type, m Mode) {
	if m == Counted {
		return
	}
	gid := goid()
	mu.Lock()
	ls := locks[uintptr(p)]
	if ls == nil || ls.w.Value() != (*byte)(p) {
		mu.Unlock()
		return // never acquired through the hooks: nothing to check
	}
	var other *acq
	for i := len(ls.holders) - 1; i >= 0; i-- {
		h := ls.holders[i]
		if h.mode != m {
			continue
		}
		if h.gid == gid {
			unhold(h)
			mu.Unlock()
			return
		}
		if other == nil {
			other = h
		}
	}
	if other == nil {
		mu.Unlock()
		return // not held in this mode: the lock's own misuse check panics
	}
	var pcs []uintptr
	owned := !ls.isUnowned()
	if owned {
		pcs = callers()
	}
	if !owned || !once(fmt.Sprintf("unlock %s %s %d", siteOf(pcs), siteOf(other.pcs), m)) {
		unhold(other) // a handoff between goroutines: the hold moves
		mu.Unlock()
		return
	}
	name := ls.name()
	unlock := "unlocks"
	if m == Read {
		unlock = "read-unlocks"
	}
	r := &Report{
		Kind: UnlockNotHeld,
		Message: fmt.Sprintf("goroutine %d %s %s, which goroutine %d holds; "+
			"call diag.Unowned for locks that are handed between goroutines by design", gid, unlock, name, other.gid),
		Locks: []string{ls.cls.name},
		Stacks: []Stack{
			{Title: fmt.Sprintf("goroutine %d %s %s here:", gid, unlock, name), Goroutine: gid, Text: formatStack(pcs)},
			{Title: fmt.Sprintf("goroutine %d locked it here:", other.gid), Goroutine: other.gid, Text: formatStack(other.pcs)},
		},
	}
	mu.Unlock()
	deliver([]*Report{r}) // may panic: then nothing changed
	mu.Lock()
	for _, h := range ls.holders {
		if h == other {
			unhold(other)
			break
		}
	}
	mu.Unlock()
}

func depDowngrade(p unsafe.Pointer) {
	gid := goid()
	mu.Lock()
	defer mu.Unlock()
	if ls := locks[uintptr(p)]; ls != nil {
		for _, h := range ls.holders {
			if h.gid == gid && h.mode == Write {
				h.mode = Read
				return
			}
		}
		for _, h := range ls.holders {
			if h.mode == Write {
				h.mode = Read
				return
			}
		}
	}
}

// reportLongWait runs in the timer's goroutine when a has waited d.
func reportLongWait(a *acq, d time.Duration) {
	mu.Lock()
	if !a.waiting {
		mu.Unlock()
		return
	}
	// Copies, taken under mu: a Downgrade changes a holder's mode, and
	// SetName the lock's class, while the report is written.
	ls := a.ls
	name, class := ls.name(), ls.cls.name
	var holders, waiters []acq
	for _, h := range ls.holders {
		holders = append(holders, *h)
	}
	self := -1 // a's index in waiters
	for i, w := range ls.waiters {
		if w == a {
			self = i
		}
		waiters = append(waiters, *w)
	}
	waited := time.Since(a.since).Round(time.Millisecond)
	mu.Unlock()

	now := goroutineStacks()
	r := &Report{Kind: LongWait, Locks: []string{class}}
	var ids []string
	for _, h := range holders {
		ids = append(ids, fmt.Sprint(h.gid))
	}
	switch len(ids) {
	case 0:
		r.Message = fmt.Sprintf("goroutine %d has waited %v (threshold %v) for %s; no tracked acquisition holds it "+
			"(it may have been released this instant, or taken before it was tracked)", a.gid, waited, d, name)
	case 1:
		r.Message = fmt.Sprintf("goroutine %d has waited %v (threshold %v) for %s, held by goroutine %s",
			a.gid, waited, d, name, ids[0])
	default:
		r.Message = fmt.Sprintf("goroutine %d has waited %v (threshold %v) for %s, held for reading by goroutines %s",
			a.gid, waited, d, name, strings.Join(ids, ", "))
	}
	for _, h := range holders {
		r.Stacks = append(r.Stacks, Stack{Title: fmt.Sprintf("holder: goroutine %d %s-locked %s here:", h.gid, h.mode, name), Goroutine: h.gid, Text: formatStack(h.pcs)})
		if s, ok := now[h.gid]; ok {
			r.Stacks = append(r.Stacks, Stack{Title: fmt.Sprintf("holder: goroutine %d is now at:", h.gid), Goroutine: h.gid, Text: s})
		}
	}
	for i, w := range waiters {
		title := fmt.Sprintf("waiter: goroutine %d waits to %s-lock %s here:", w.gid, w.mode, name)
		if i == self {
			title = fmt.Sprintf("waiter: goroutine %d (waiting %v) waits to %s-lock %s here:", w.gid, waited, w.mode, name)
		}
		r.Stacks = append(r.Stacks, Stack{Title: title, Goroutine: w.gid, Text: formatStack(w.pcs)})
	}
	deliver([]*Report{r})
}

// goroutineStacks returns every goroutine's current stack, by id.
func goroutineStacks() map[int64]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[int64]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, body, _ := strings.Cut(g, "\n")
		var id int64
		if _, err := fmt.Sscanf(header, "goroutine %d ", &id); err == nil {
			out[id] = body + "\n"
		}
	}
	return out
}
