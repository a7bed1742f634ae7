//go:build unix

package future_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) this process has used so
// far. The benchmarks report it per operation next to the wall-clock time:
// on a machine shared with other work, wall time per op swings by 2-4x
// between runs while the CPU an operation burns stays put.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
