package pool

import "unsafe"

// A task, as the deques, batches and the injector store it, is one pointer
// word, tagged in its two low bits:
//
//	tag  what the pointer is                        made by
//	0    a func()'s closure pointer                 Submit, SubmitContext
//	1    a *job, plus one byte                      Group.Go (the task and its group)
//	2    a func(*Worker)'s closure pointer, plus 2  Go, Worker.Spawn
//
// So Submit allocates nothing, and Go and Spawn allocate nothing beyond the
// caller's own closure. This relies on two facts. Closure pointers are word
// aligned (a closure is a heap object at least two words long, or for a
// function without captures a read-only word), so their two low bits are
// free; funcTask and workerTask check it. And a pointer one or two bytes
// into an object still points inside it (a job is two words; a closure
// with a tag of 2 is at least one): the GC keeps the object alive through
// it, and the conversions follow rule (3) of package unsafe, arithmetic
// that stays within the original allocation, which -race's checkptr
// verifies.
//
// Rejected: a *task struct for every submission (one 16-byte allocation
// measured 43 ns here, more than the whole per-task budget of a
// channel-fed pool), and two slot words per deque entry (an extra atomic
// store, about 5 ns, on every push).
type task = unsafe.Pointer

const (
	tagFunc       = 0
	tagJob        = 1
	tagWorkerFunc = 2
	tagMask       = 3
)

// job is a task that belongs to a Group.
type job struct {
	fn func(*Worker)
	g  *Group
}

func tag(t task) uintptr { return uintptr(t) & tagMask }

func closure(f unsafe.Pointer) unsafe.Pointer {
	p := *(*unsafe.Pointer)(f)
	if uintptr(p)&tagMask != 0 {
		panic("pool: inconsistent: a func value is not word aligned")
	}
	return p
}

func funcTask(f func()) task { return closure(unsafe.Pointer(&f)) }

func workerTask(f func(*Worker)) task {
	return unsafe.Add(closure(unsafe.Pointer(&f)), tagWorkerFunc)
}

func jobTask(j *job) task { return unsafe.Add(unsafe.Pointer(j), tagJob) }

func asFunc(t task) (f func()) {
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = t
	return f
}

func asWorkerFunc(t task) (f func(*Worker)) {
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = unsafe.Add(t, -tagWorkerFunc)
	return f
}

func asJob(t task) *job { return (*job)(unsafe.Add(t, -tagJob)) }
