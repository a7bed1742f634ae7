package report

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// bench builds go test -bench output: for each impl, one line per value, at
// GOMAXPROCS procs, in the workload BenchmarkX/w=a.
func bench(procs int, impls map[string][]float64) string {
	suffix := ""
	if procs != 1 {
		suffix = fmt.Sprintf("-%d", procs)
	}
	var b strings.Builder
	for impl, vs := range impls {
		for _, v := range vs {
			fmt.Fprintf(&b, "BenchmarkX/w=a/impl=%s%s \t 1000 \t %g ns/op\n", impl, suffix, v)
		}
	}
	return b.String()
}

func parseString(t *testing.T, in string) *Data {
	t.Helper()
	d, err := Parse(strings.NewReader(in), "test")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func compareOne(t *testing.T, in string, procs int) Comparison {
	t.Helper()
	c := Compare(find(t, parseString(t, in), "X", "w=a"), procs)
	if len(c) != 1 {
		t.Fatalf("%d comparisons, want 1: %+v", len(c), c)
	}
	return c[0]
}

// BENCHMARKS.md: "par" means the 95% intervals overlap; the report's own
// legend says ≈ is "overlapping intervals, or within 5% without
// intervals". Six runs give intervals; separated intervals 3% apart are a
// decided lead (or trail), not parity.
func TestVerdictSeparatedIntervalsWithinFivePercent(t *testing.T) {
	peer := []float64{10.0, 10.1, 10.2, 10.0, 10.1, 10.2}
	faster := []float64{9.7, 9.8, 9.7, 9.8, 9.7, 9.8}
	slower := []float64{10.4, 10.5, 10.4, 10.5, 10.4, 10.5}
	if c := compareOne(t, bench(2, map[string][]float64{"sync.Mutex": peer, "lockstep.M": faster}), 2); c.Verdict != Leads {
		t.Errorf("intervals [9.7,9.8] vs [10.0,10.2] ns: %+v (%s); want leads", c, c.Verdict)
	}
	if c := compareOne(t, bench(2, map[string][]float64{"sync.Mutex": peer, "lockstep.M": slower}), 2); c.Verdict != Trails {
		t.Errorf("intervals [10.4,10.5] vs [10.0,10.2] ns: %+v (%s); want trails", c, c.Verdict)
	}
	// Overlapping intervals stay par however far apart the medians are.
	wide := []float64{5, 6, 9.9, 10.1, 30, 40}
	if c := compareOne(t, bench(2, map[string][]float64{"sync.Mutex": wide, "lockstep.M": faster}), 2); c.Verdict != Par {
		t.Errorf("overlapping intervals: %+v (%s); want par", c, c.Verdict)
	}
}

// Leading means being faster than the fastest peer; when the peer with the
// best median is not clearly the fastest (another peer's interval reaches
// below lockstep's), lockstep is not shown to lead. Symmetrically, being
// clearly slower than any peer is trailing the fastest.
func TestVerdictAgainstEveryPeer(t *testing.T) {
	tight := []float64{10.0, 10.1, 10.0, 10.1, 10.0, 10.1} // median 10.05
	wide := []float64{5, 6, 10.2, 10.3, 30, 40}            // median 10.25, interval [5,40]
	lock := []float64{8.0, 8.1, 8.0, 8.1, 8.0, 8.1}
	c := compareOne(t, bench(2, map[string][]float64{"sync.Mutex": tight, "chan": wide, "lockstep.M": lock}), 2)
	if c.Peer != "sync.Mutex" || c.Verdict != Par {
		t.Errorf("lockstep [8.0,8.1] against chan [5,40]: %+v (%s); want par with sync.Mutex", c, c.Verdict)
	}

	wide = []float64{5, 6, 9.9, 10.1, 30, 40}             // median 10.0, interval [5,40]
	tight = []float64{10.5, 10.6, 10.5, 10.6, 10.5, 10.6} // median 10.55
	lock = []float64{12.0, 12.1, 12.0, 12.1, 12.0, 12.1}  // clearly slower than tight
	c = compareOne(t, bench(2, map[string][]float64{"sync.Mutex": wide, "chan": tight, "lockstep.M": lock}), 2)
	if c.Peer != "sync.Mutex" || c.Verdict != Trails {
		t.Errorf("lockstep [12.0,12.1] against chan [10.5,10.6]: %+v (%s); want trails (ratio to sync.Mutex)", c, c.Verdict)
	}
}

// A NaN measurement is no measurement: it must not become the best peer
// (which made the ratio NaN and the verdict par) nor poison a median.
func TestNaNSampleIgnored(t *testing.T) {
	in := "BenchmarkX/w=a/impl=chan-2 \t 1 \t NaN ns/op\n" +
		bench(2, map[string][]float64{"sync.Mutex": {10}, "lockstep.M": {8}})
	c := compareOne(t, in, 2)
	if c.Peer != "sync.Mutex" || math.Abs(c.Ratio-0.8) > 1e-9 || c.Verdict != Leads {
		t.Errorf("%+v (%s); want 0.80x leading sync.Mutex", c, c.Verdict)
	}
	var b bytes.Buffer
	if err := WriteTables(&b, parseString(t, in)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") {
		t.Errorf("table shows NaN:\n%s", b.String())
	}
}

// A '|' in a sub-benchmark name must not split the Markdown cell: it would
// shift every figure of the row under the wrong CPU column.
func TestTablePipeInName(t *testing.T) {
	in := "BenchmarkX/mix=r|w/impl=chan-2 \t 1 \t 20 ns/op\n" +
		"BenchmarkX/mix=r|w/impl=lockstep.M-2 \t 1 \t 10 ns/op\n"
	var b bytes.Buffer
	if err := WriteTables(&b, parseString(t, in)); err != nil {
		t.Fatal(err)
	}
	header := strings.Count("| workload | implementation | 2 CPU |", "|")
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != header {
			t.Errorf("row has %d cell separators, header %d: %s", n, header, line)
		}
	}
}

// Two workloads whose names differ only in characters the file name maps
// alike must not share one chart file (the second overwrote the first, and
// the report linked both to it).
func TestChartFilesDistinct(t *testing.T) {
	var in strings.Builder
	for _, wl := range []string{"op=a/b", "op=a_b", "op=a+b", "op=a-b"} {
		for _, p := range []string{"", "-2"} {
			fmt.Fprintf(&in, "BenchmarkX/%s/impl=chan%s \t 1 \t 20 ns/op\n", wl, p)
		}
	}
	dir := t.TempDir()
	files, err := WriteCharts(dir, parseString(t, in.String()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			t.Errorf("chart file %s written twice: %v", f, files)
		}
		seen[f] = true
	}
	entries, _ := os.ReadDir(dir)
	if len(files) != 4 || len(entries) != 4 {
		t.Errorf("%d files named, %d on disk; want 4: %v", len(files), len(entries), files)
	}
}
