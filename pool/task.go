package pool

import "unsafe"

// A task, as the deques and the injector store it, is one pointer word:
//
//   - a plain func() task (Submit) is the func value's own closure pointer,
//     so submitting a func() allocates nothing;
//   - a task that receives its *Worker (Go, Worker.Spawn, Group.Go) is a
//     *job, stored as a pointer one byte into the job, so its low bit is 1.
//
// Closure pointers are word aligned (a closure is a heap object, or for a
// top-level function a read-only word), so their low bit is always 0, and a
// job is at least two words long, so a pointer one byte into it still points
// inside the same object: the GC keeps the job alive through it, and the
// conversions below follow rule (3) of package unsafe (arithmetic that stays
// within the original allocation), which -race's checkptr verifies.
//
// Rejected: a *task struct for every submission (one 16-byte allocation
// measured 43 ns here, more than the whole per-task budget of a
// channel-fed pool), and two slot words per deque entry (an extra atomic
// store, about 5 ns, on every push).
type task = unsafe.Pointer

// job is a task that needs its worker, or belongs to a Group.
type job struct {
	fn func(*Worker)
	g  *Group // nil for a task outside any group
}

func funcTask(f func()) task { return *(*unsafe.Pointer)(unsafe.Pointer(&f)) }

func jobTask(j *job) task { return unsafe.Add(unsafe.Pointer(j), 1) }

func isJob(t task) bool { return uintptr(t)&1 != 0 }

func asJob(t task) *job { return (*job)(unsafe.Add(t, -1)) }

func asFunc(t task) (f func()) {
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = t
	return f
}
