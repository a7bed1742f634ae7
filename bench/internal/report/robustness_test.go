package report

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A benchmark that fails after its first iteration leaves "BenchmarkName
// \t--- FAIL: ..." on a result line, and one that prints to stdout leaves
// its output there. benchstat warns about such lines and goes on; the
// report refused the whole file, so the raw.txt of a run with one failed
// benchmark could not be rendered at all.
func TestParseSkipsMalformedResultLines(t *testing.T) {
	in := "BenchmarkX/w=a/impl=chan-2 \t 1000 \t 20 ns/op\n" +
		"BenchmarkX/w=a/impl=lockstep.M-2      \t--- FAIL: BenchmarkX/w=a/impl=lockstep.M-2\n" +
		"    x_test.go:12: batch of 16 did not move whole\n" +
		"BenchmarkX/w=a/impl=sync.Mutex-2 \tprinted by the benchmark\n" +
		"BenchmarkX/w=a/impl=lockstep.M-2 \t 1000 \t 10 ns/op\n"
	d, err := Parse(strings.NewReader(in), "raw.txt")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := Compare(find(t, d, "X", "w=a"), 2)
	if len(c) != 1 || c[0].Peer != "chan" || c[0].Verdict != Leads {
		t.Errorf("%+v; want lockstep.M leading chan from the lines that parse", c)
	}
	if len(d.Warnings) != 2 {
		t.Errorf("warnings %q; want the two skipped lines", d.Warnings)
	}
}

// A benchmark that reports only custom metrics (b.ReportMetric(0, "ns/op")
// drops the time) was skipped without a word, so its family went missing
// from the report silently. Now it is named once among the warnings, and
// results that do have a time still count.
func TestParseWarnsOnceAboutUntimedResults(t *testing.T) {
	in := "BenchmarkX/w=a/impl=chan-2 \t 1000 \t 20 ns/op\n" +
		"BenchmarkX/w=a/impl=lockstep.M-2 \t 1000 \t 3 ns/item\n" +
		"BenchmarkX/w=a/impl=lockstep.M-2 \t 1000 \t 4 ns/item\n" +
		"BenchmarkX/w=a/impl=sync.Mutex-2 \t 1000 \t 30 ns/op\t 2 ns/item\n"
	d, err := Parse(strings.NewReader(in), "raw.txt")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{"BenchmarkX/w=a/impl=lockstep.M-2: no ns/op (only custom metrics)"}
	if !slices.Equal(d.Warnings, want) {
		t.Errorf("warnings %q; want %q", d.Warnings, want)
	}
	w := find(t, d, "X", "w=a")
	if got := len(w.Series); got != 2 {
		t.Errorf("%d implementations in the workload; want chan and sync.Mutex, the two with a time", got)
	}
}

// A workload measured at one GOMAXPROCS value only (a benchmark that skips
// or fails at the others), or whose points all have one time, gives the
// log-scaled axis a zero range; gonum/plot widens that by ±1, to 0 when the
// value is 1 (CPU) or at most 1 ns, and its log scale panicked.
func TestChartsSinglePointWorkload(t *testing.T) {
	in := "BenchmarkX/w=a/impl=chan \t 1000 \t 20 ns/op\n" + // only at 1 CPU
		"BenchmarkX/w=b/impl=chan \t 1000 \t 20 ns/op\n" +
		"BenchmarkX/w=b/impl=chan-2 \t 1000 \t 10 ns/op\n" +
		"BenchmarkX/w=c/impl=chan \t 1000000000 \t 0.5 ns/op\n" + // one time throughout
		"BenchmarkX/w=c/impl=chan-2 \t 1000000000 \t 0.5 ns/op\n"
	d := parseString(t, in)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("WriteCharts panicked: %v", r)
		}
	}()
	files, err := WriteCharts(t.TempDir(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("charts %v; want 3", files)
	}
}

// Charts of an earlier run into the same directory (the default
// bench/results/charts) stayed beside the new ones: after a run with
// -run Locks the directory still held every other family's charts, and a
// run at one GOMAXPROCS value (no charts) left the old run's charts whole.
func TestChartsReplaceEarlierRun(t *testing.T) {
	dir := t.TempDir()
	first := bench(1, map[string][]float64{"chan": {20}}) + bench(2, map[string][]float64{"chan": {10}}) +
		"BenchmarkY/w=b/impl=chan \t 1 \t 20 ns/op\nBenchmarkY/w=b/impl=chan-2 \t 1 \t 20 ns/op\n"
	if _, err := WriteCharts(dir, parseString(t, first)); err != nil {
		t.Fatal(err)
	}
	second := bench(1, map[string][]float64{"chan": {20}}) + bench(2, map[string][]float64{"chan": {10}})
	files, err := WriteCharts(dir, parseString(t, second))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	for i := range onDisk {
		onDisk[i] = filepath.Base(onDisk[i])
	}
	if !slices.Equal(onDisk, files) {
		t.Errorf("charts on disk %v; this run wrote %v", onDisk, files)
	}
	if _, err := WriteCharts(dir, parseString(t, bench(2, map[string][]float64{"chan": {10}}))); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.svg")); len(left) != 0 {
		t.Errorf("a run without charts left %v", left)
	}
}
