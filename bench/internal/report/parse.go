// Package report turns Go benchmark output from the lockstep suite into the
// comparison report: per-family Markdown tables of time per operation by
// implementation and core count, lockstep's ratio to the best peer, and SVG
// charts of time against cores.
//
// Benchmark names follow one convention, which the suite keeps:
//
//	BenchmarkFamily/key=value/.../impl=NAME-PROCS
//
// The top-level name is the family (Locks, Queues, ...), the impl key names
// the implementation, the -PROCS suffix is GOMAXPROCS, and every other
// key=value part names the workload. Implementations whose name starts with
// "lockstep" are ours; those whose name starts with "bound." are reference
// lines (a lower bound such as the same work done synchronously, which no
// library can match and none offers): the tables and charts show them, but
// lockstep is never compared with them. Every other implementation is a
// peer or a baseline.
package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
	"golang.org/x/perf/benchproc"
)

// Confidence is the confidence level of the intervals in the report.
const Confidence = 0.95

// Series is one implementation's measurements of one workload, by
// GOMAXPROCS.
type Series struct {
	Impl    string
	ByProcs map[int]benchmath.Summary // seconds per op
	Samples map[int]int               // number of runs behind each summary
}

// Workload is one workload of a family and every implementation measured
// on it.
type Workload struct {
	Name   string // the key=value parts other than impl, joined by "/"
	Series []*Series
}

// Family is a top-level benchmark and its workloads.
type Family struct {
	Name      string
	Workloads []*Workload
}

// Data is a parsed benchmark run.
type Data struct {
	Families []*Family
	Procs    []int             // every GOMAXPROCS value seen, ascending
	Config   map[string]string // file configuration: goos, goarch, cpu, pkg...
	// Warnings are the lines that begin like a result but do not parse
	// (a benchmark that failed, or printed on its result line): skipped,
	// as benchstat skips them; and, once per benchmark, results without
	// a time per operation (a benchmark that reports only its own
	// metrics), which the report has nothing to compare by.
	Warnings []string
}

// IsLockstep reports whether impl is one of this module's implementations.
func IsLockstep(impl string) bool { return strings.HasPrefix(impl, "lockstep") }

// IsBound reports whether impl is a reference line rather than a peer (see
// the package doc): Compare leaves it out.
func IsBound(impl string) bool { return strings.HasPrefix(impl, "bound.") }

// Parse reads Go benchmark output (as go test -bench writes it, any number
// of runs interleaved) and summarises sec/op per family, workload,
// implementation and GOMAXPROCS with benchmath's distribution-free median
// and its 95% confidence interval. Results without an impl key are skipped:
// they are not comparisons.
func Parse(r io.Reader, fileName string) (*Data, error) {
	var parser benchproc.ProjectionParser
	implProj, err := parser.Parse("/impl", nil)
	if err != nil {
		return nil, err
	}
	procsProj, err := parser.Parse("/gomaxprocs", nil)
	if err != nil {
		return nil, err
	}
	implField := implProj.Fields()[0]
	procsField := procsProj.Fields()[0]

	type key struct{ family, workload, impl string }
	values := map[key]map[int][]float64{}
	untimed := map[string]bool{} // names already warned about for lacking sec/op
	var order []key
	d := &Data{Config: map[string]string{}}

	br := benchfmt.NewReader(r, fileName)
	for br.Scan() {
		switch rec := br.Result(); rec := rec.(type) {
		case *benchfmt.SyntaxError:
			d.Warnings = append(d.Warnings, rec.Error())
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if c.File {
					d.Config[c.Key] = string(c.Value)
				}
			}
			sec, ok := rec.Value("sec/op")
			if !ok {
				if name := "Benchmark" + string(rec.Name.Full()); !untimed[name] {
					untimed[name] = true
					d.Warnings = append(d.Warnings, name+": no ns/op (only custom metrics)")
				}
				continue
			}
			if math.IsNaN(sec) || math.IsInf(sec, 0) {
				continue // no measurement: NaN would sort and compare as nothing else does
			}
			impl := implProj.Project(rec).Get(implField)
			if impl == "" {
				continue
			}
			procs := 1
			if p := procsProj.Project(rec).Get(procsField); p != "" {
				if _, err := fmt.Sscan(p, &procs); err != nil {
					return nil, fmt.Errorf("%s: bad GOMAXPROCS %q", rec.Name, p)
				}
			}
			base, parts := rec.Name.Parts()
			var wl []string
			for _, p := range parts {
				s := string(p)
				if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "/impl=") {
					wl = append(wl, s[1:])
				}
			}
			k := key{string(base), strings.Join(wl, "/"), impl}
			if values[k] == nil {
				values[k] = map[int][]float64{}
				order = append(order, k)
			}
			values[k][procs] = append(values[k][procs], sec)
			if !slices.Contains(d.Procs, procs) {
				d.Procs = append(d.Procs, procs)
			}
		}
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	slices.Sort(d.Procs)

	families := map[string]*Family{}
	workloads := map[[2]string]*Workload{}
	for _, k := range order {
		f := families[k.family]
		if f == nil {
			f = &Family{Name: k.family}
			families[k.family] = f
			d.Families = append(d.Families, f)
		}
		w := workloads[[2]string{k.family, k.workload}]
		if w == nil {
			w = &Workload{Name: k.workload}
			workloads[[2]string{k.family, k.workload}] = w
			f.Workloads = append(f.Workloads, w)
		}
		s := &Series{Impl: k.impl, ByProcs: map[int]benchmath.Summary{}, Samples: map[int]int{}}
		for procs, vs := range values[k] {
			sample := benchmath.NewSample(vs, &benchmath.DefaultThresholds)
			s.ByProcs[procs] = benchmath.AssumeNothing.Summary(sample, Confidence)
			s.Samples[procs] = len(vs)
		}
		w.Series = append(w.Series, s)
	}
	return d, nil
}
