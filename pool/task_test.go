package pool_test

import (
	"testing"

	"github.com/lockstep-go/lockstep/pool"
)

type counter struct{ n int }

func (c *counter) inc()              { c.n++ }
func (c *counter) incW(*pool.Worker) { c.n += 10 }
func topLevel()                      { topLevelCalls++ }
func topLevelW(*pool.Worker)         { topLevelCalls += 10 }

var topLevelCalls int

// Every kind of func value survives the tagged-pointer task encoding:
// top-level functions (static, read-only closures), method values, and
// closures with captures of different sizes.
func TestTaskEncoding(t *testing.T) {
	topLevelCalls = 0 // a package variable: -count 2 runs this test again
	var c counter
	var small int8
	var big [5]int64
	cases := []struct {
		name string
		f    func()
		g    func(*pool.Worker)
		want func() bool
	}{
		{"top-level", topLevel, topLevelW, func() bool { return topLevelCalls == 11 }},
		{"method value", c.inc, c.incW, func() bool { return c.n == 11 }},
		{"small capture", func() { small++ }, func(*pool.Worker) { small += 10 }, func() bool { return small == 11 }},
		{"big capture", func() { big[4]++ }, func(*pool.Worker) { big[4] += 10 }, func() bool { return big[4] == 11 }},
	}
	for _, c := range cases {
		f, g, tags := pool.EncodeDecode(c.f, c.g)
		if tags != [2]uintptr{0, 2} {
			t.Fatalf("%s: tags %v", c.name, tags)
		}
		f()
		g(nil)
		if !c.want() {
			t.Fatalf("%s: the decoded funcs did not call the originals", c.name)
		}
	}
}
