// Package suite is lockstep's comparison suite: the same workloads run
// against lockstep, the standard library, golang.org/x/sync and the popular
// Go libraries (xsync, ants, pond, conc), each family through a small
// interface. It holds only benchmarks; run it through cmd/report, or
// directly:
//
//	go test -run '^$' -bench . -cpu 1,2,4 ./suite
//
// Names follow BenchmarkFamily/key=value/.../impl=NAME; implementations
// whose name starts with "lockstep" are this module's, and those whose name
// starts with "bound." are reference lines, not peers (the same work done
// with no concurrency machinery at all), which the report shows but never
// compares lockstep with. A family has a
// lockstep implementation only where the package exists: the suite never
// stands a peer in for a missing one.
package suite
