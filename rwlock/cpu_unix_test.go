//go:build unix

package rwlock_test

import (
	"syscall"
	"testing"
)

// startCPU starts measuring the process's CPU time (user + system, all
// threads); the returned stop reports it per operation as "cpu-ns/op". On a
// machine shared with other work, wall time per operation mostly measures
// how much of the CPUs this process got; CPU time per operation measures
// what the operations cost, so the two together tell contention effects
// from scheduling noise.
func startCPU(b *testing.B) (stop func()) {
	start := cpuNanos()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
