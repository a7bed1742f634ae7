package suite

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestMain prints the Go version as a configuration line ahead of the
// results when benchmarks run, as the testing package prints goos, goarch
// and cpu, so that a report rendered from a prebuilt suite binary (report
// -bin) names the toolchain that compiled the suite, not its own.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		fmt.Printf("goversion: %s\n", runtime.Version())
	}
	os.Exit(m.Run())
}

// work does about n dependent multiply-adds on local state: the body of a
// critical section or the think time between operations, touching no shared
// memory.
func work(n int) int {
	x := 1
	for i := range n {
		x = x*31 + i
	}
	return x
}

// sink keeps results of work alive without making them shared state that
// goroutines fight over.
var sink atomic.Int64

// impl is one implementation of a family's interface.
type impl[T any] struct {
	name string
	new  func() T
}

// run runs fn as sub-benchmark "<prefix>impl=<name>" for every
// implementation.
func run[T any](b *testing.B, prefix string, impls []impl[T], fn func(b *testing.B, x T)) {
	for _, im := range impls {
		b.Run(prefix+"impl="+im.name, func(b *testing.B) {
			b.ReportAllocs()
			fn(b, im.new())
		})
	}
}

func procs() int { return runtime.GOMAXPROCS(0) }

func kv(key string, v any) string { return fmt.Sprintf("%s=%v/", key, v) }
