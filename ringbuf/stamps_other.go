//go:build !amd64 || race

package ringbuf

// publishStamps stores first, first+1, ... into the stamps of run, in
// order, each a sequentially consistent store. See stamps_amd64.go.
func publishStamps[T any](run []slot[T], first uint64) {
	for i := range run {
		run[i].stamp.Store(first + uint64(i))
	}
}

// publishRun stores first, first+2, ... into run, in order, each a
// sequentially consistent store.
func publishRun[T any](run []slot[T], first uint64) {
	for i := range run {
		run[i].stamp.Store(first + 2*uint64(i))
	}
}
