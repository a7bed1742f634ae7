package pool

import "unsafe"

// A task, as the deques, batches and the injector store it, is one pointer
// word, tagged in its two low bits:
//
//	tag  what the pointer is                        made by
//	0    a func()'s closure pointer                 Submit, SubmitContext
//	1    a *job, plus one byte                      Group.Go (the task and its group)
//	2    a func(*Worker)'s closure pointer, plus 2  Go, Worker.Spawn
//	3    an *argsJob, plus 3                        Worker.SpawnArgs, Group.GoArgs
//
// So Submit allocates nothing, Go and Spawn allocate nothing beyond the
// caller's own closure, and SpawnArgs and GoArgs nothing at all once the
// worker's free list of argsJob records is warm (see argsJob). This relies
// on two facts. Closure pointers are word aligned (a closure is a heap
// object at least two words long, or for a function without captures a
// read-only word), so their two low bits are free; funcTask and workerTask
// check it. And a pointer one to three bytes into an object still points
// inside it (a job is two words, an argsJob five; a closure with a tag of
// 2 is at least one): the GC keeps the object alive through it, and the
// conversions follow rule (3) of package unsafe, arithmetic that stays
// within the original allocation, which -race's checkptr verifies.
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
	tagArgs       = 3
	tagMask       = 3
)

// job is a task that belongs to a Group.
type job struct {
	fn func(*Worker)
	g  *Group
}

// argsJob is a task of SpawnArgs or GoArgs: a function of the worker and
// two ints, the ints, and the group it belongs to (nil for SpawnArgs).
//
// Its records are recycled, which is the point of the form: a closure per
// task is an allocation per task, and at fork-join grain (a fraction of a
// microsecond a task) the allocation, and the garbage collection it
// brings (write barriers on every deque store while marking), cost about
// as much as the rest of the pool's bookkeeping: an unbalanced tree of
// 0.3µs nodes ran 7% faster at 1 CPU and 9% faster at 2 with records than
// with closures (BenchmarkUnbalancedTree, 10 interleaved runs).
// Each worker keeps a free list of records, owned by its goroutine, and
// fills it a chunk of argsChunk records at a time. The worker that runs a
// task puts its record on its own list once the task has returned: the
// record is then referenced by nobody else (the task word left in a deque
// slot it was popped or stolen from is never read as a task again, since
// only positions in [top, bottom) are), so records wander from the
// spawning workers' lists to the running workers', and a list that grows
// past maxFreeArgs drops its surplus to the garbage collector.
type argsJob struct {
	fn   func(w *Worker, x, y int)
	x, y int
	g    *Group
	next *argsJob // the free list
}

const (
	argsChunk   = 32
	maxFreeArgs = 1024
)

func argsTask(j *argsJob) task { return unsafe.Add(unsafe.Pointer(j), tagArgs) }

func asArgs(t task) *argsJob { return (*argsJob)(unsafe.Add(t, -tagArgs)) }

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
