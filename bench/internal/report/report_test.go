package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchmath"
)

func parseFile(t *testing.T, name string) *Data {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func find(t *testing.T, d *Data, family, workload string) *Workload {
	t.Helper()
	for _, f := range d.Families {
		if f.Name != family {
			continue
		}
		for _, w := range f.Workloads {
			if w.Name == workload {
				return w
			}
		}
	}
	t.Fatalf("no workload %s %s", family, workload)
	return nil
}

func TestParseGroups(t *testing.T) {
	d := parseFile(t, "small.txt")
	var names []string
	for _, f := range d.Families {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "Locks,Queues,Solo" {
		t.Fatalf("families %s; want Locks,Queues,Solo (results without impl skipped)", got)
	}
	if len(d.Procs) != 2 || d.Procs[0] != 1 || d.Procs[1] != 2 {
		t.Fatalf("procs %v, want [1 2]", d.Procs)
	}
	if d.Config["cpu"] != "AMD EPYC" || d.Config["goarch"] != "amd64" {
		t.Fatalf("config %v", d.Config)
	}
	w := find(t, d, "Locks", "workload=uncontended")
	if len(w.Series) != 2 {
		t.Fatalf("%d series, want 2", len(w.Series))
	}
	s := w.Series[0]
	if s.Impl != "sync.Mutex" || s.Samples[1] != 3 || s.Samples[2] != 3 {
		t.Fatalf("series %+v", s)
	}
	if c := s.ByProcs[1].Center; math.Abs(c-10.0e-9) > 1e-12 {
		t.Fatalf("median sec/op = %g, want 10ns", c)
	}
	find(t, d, "Locks", "workload=contended/cs=0")
}

func TestCompare(t *testing.T) {
	d := parseFile(t, "small.txt")
	un := find(t, d, "Locks", "workload=uncontended")
	c := Compare(un, 1)
	if len(c) != 1 || c[0].Peer != "sync.Mutex" || c[0].Verdict != Leads {
		t.Fatalf("uncontended@1: %+v; want lockstep leading sync.Mutex", c)
	}
	if r := c[0].Ratio; math.Abs(r-0.8) > 0.01 {
		t.Fatalf("ratio %.3f, want 0.80", r)
	}
	if c := Compare(un, 2); c[0].Verdict != Trails {
		t.Fatalf("uncontended@2: %+v; want trailing", c)
	}
	// One run each: no interval, so within 5% is parity, and the best
	// peer is the fastest non-lockstep one (sync.Mutex, not chan).
	if c := Compare(find(t, d, "Locks", "workload=contended/cs=0"), 2); c[0].Verdict != Par || c[0].Peer != "sync.Mutex" {
		t.Fatalf("contended@2: %+v; want par with sync.Mutex", c)
	}
	if c := Compare(find(t, d, "Queues", "workload=spsc"), 2); c[0].Verdict != Leads {
		t.Fatalf("single-run 3x faster must lead: %+v", c)
	}
	if c := Compare(find(t, d, "Solo", "workload=x"), 2); c[0].Verdict != NoPeer {
		t.Fatalf("no peer: %+v", c)
	}
}

// A bound (a reference line such as the work done synchronously) is shown
// but is not a peer: lockstep is compared with the fastest real peer, and
// with none when the bound is all there is.
func TestCompareLeavesOutBounds(t *testing.T) {
	point := func(ns float64) map[int]benchmath.Summary {
		return map[int]benchmath.Summary{1: {Center: ns * 1e-9, Lo: math.Inf(-1), Hi: math.Inf(1)}}
	}
	w := &Workload{Name: "workload=chain", Series: []*Series{
		{Impl: "lockstep.future.Then", ByProcs: point(10)},
		{Impl: "bound.func-slice", ByProcs: point(1)},
		{Impl: "goroutine-per-stage", ByProcs: point(20)},
	}}
	c := Compare(w, 1)
	if len(c) != 1 || c[0].Peer != "goroutine-per-stage" || c[0].Verdict != Leads || math.Abs(c[0].Ratio-0.5) > 1e-9 {
		t.Fatalf("with a bound and a peer: %+v; want a lead over goroutine-per-stage at 0.5x", c)
	}
	w.Series = w.Series[:2]
	if c := Compare(w, 1); len(c) != 1 || c[0].Verdict != NoPeer {
		t.Fatalf("with only a bound: %+v; want no peer", c)
	}
}

func TestTables(t *testing.T) {
	d := parseFile(t, "small.txt")
	var b bytes.Buffer
	if err := WriteTables(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### Locks",
		"| workload | implementation | 1 CPU | 2 CPU |",
		"| workload=uncontended | sync.Mutex | 10.0 ns | 10.2 ns |",
		"| | **lockstep.Mutex** | 8.00 ns | 12.0 ns |",
		"| | *lockstep.Mutex ÷ best peer* | 0.80× ✅ (sync.Mutex) | 1.18× ❌ (sync.Mutex) |",
		"| workload=contended/cs=0 | sync.Mutex | | 20.0 ns |",
		"| | *lockstep.Mutex ÷ best peer* | | 1.03× ≈ (sync.Mutex) |",
		"### Solo",
		"no peer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteSummary(&b, d); err != nil {
		t.Fatal(err)
	}
	sum := b.String()
	if !strings.Contains(sum, "| Locks | 1 | 1 | 1 | workload=uncontended lockstep.Mutex @2 CPU (1.18× sync.Mutex) |") {
		t.Errorf("summary:\n%s", sum)
	}
	if !strings.Contains(sum, "| Queues | 1 | 0 | 0 | |") || strings.Contains(sum, "Solo") {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestCharts(t *testing.T) {
	d := parseFile(t, "small.txt")
	dir := t.TempDir()
	files, err := WriteCharts(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("wrote %v; want one chart per workload (4)", files)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "Locks_workload=uncontended.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "lockstep.Mutex *", "sync.Mutex", "GOMAXPROCS"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	for sec, want := range map[float64]string{
		3.456e-9: "3.46 ns", 45.67e-9: "45.7 ns", 1.234e-6: "1.23 µs", 2.5e-3: "2.50 ms",
	} {
		if got := FormatTime(sec); got != want {
			t.Errorf("FormatTime(%g) = %q, want %q", sec, got, want)
		}
	}
}
