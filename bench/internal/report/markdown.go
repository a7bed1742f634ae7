package report

import (
	"fmt"
	"io"
	"math"
	"strings"

	"golang.org/x/perf/benchmath"
)

// FormatTime formats seconds per op with three significant digits in the
// unit that suits it.
func FormatTime(sec float64) string {
	switch ns := sec * 1e9; {
	case math.IsNaN(ns):
		return "—"
	case ns < 10:
		return fmt.Sprintf("%.2f ns", ns)
	case ns < 1000:
		return fmt.Sprintf("%.1f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
}

// formatSummary is the median with the half-width of its confidence interval
// as a percentage, as benchstat prints it; a single run has no interval.
func formatSummary(s benchmath.Summary, n int) string {
	if n < 2 || math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) || s.Center == 0 {
		return FormatTime(s.Center)
	}
	return FormatTime(s.Center) + " ±" + strings.TrimPrefix(s.PctRangeString(), "±")
}

// WriteTables writes one Markdown table per family: each workload's
// implementations by GOMAXPROCS, then lockstep's ratio to the fastest peer.
func WriteTables(w io.Writer, d *Data) error {
	var b strings.Builder
	for _, f := range d.Families {
		fmt.Fprintf(&b, "### %s\n\n", f.Name)
		b.WriteString("| workload | implementation |")
		for _, p := range d.Procs {
			fmt.Fprintf(&b, " %d CPU |", p)
		}
		b.WriteString("\n|---|---|")
		for range d.Procs {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, wl := range f.Workloads {
			first := true
			for _, s := range wl.Series {
				name := wl.Name
				if !first {
					name = ""
				}
				first = false
				impl := s.Impl
				if IsLockstep(impl) {
					impl = "**" + impl + "**"
				}
				b.WriteString(row(name, impl))
				for _, p := range d.Procs {
					if sum, ok := s.ByProcs[p]; ok {
						b.WriteString(cell(formatSummary(sum, s.Samples[p])))
					} else {
						b.WriteString(cell(""))
					}
				}
				b.WriteString("\n")
			}
			for _, s := range wl.Series {
				if !IsLockstep(s.Impl) {
					continue
				}
				b.WriteString(row("", "*"+s.Impl+" ÷ best peer*"))
				for _, p := range d.Procs {
					b.WriteString(cell(ratioCell(wl, s.Impl, p)))
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell is one Markdown table cell after the row's opening "|". A "|" in s
// (a sub-benchmark name may hold one) is escaped, or it would split the cell.
func cell(s string) string {
	if s == "" {
		return " |"
	}
	return " " + strings.ReplaceAll(s, "|", `\|`) + " |"
}

func row(cells ...string) string {
	out := "|"
	for _, c := range cells {
		out += cell(c)
	}
	return out
}

func ratioCell(wl *Workload, impl string, procs int) string {
	for _, c := range Compare(wl, procs) {
		if c.Impl != impl {
			continue
		}
		if c.Verdict == NoPeer {
			return "no peer"
		}
		return fmt.Sprintf("%.2f× %s (%s)", c.Ratio, c.Verdict.Mark(), c.Peer)
	}
	return ""
}

// Tally counts a family's verdicts over every workload, lockstep
// implementation and GOMAXPROCS value.
type Tally struct {
	Family                    string
	Leads, Par, Trails, Total int
	Trailing                  []string // "workload impl @procs (ratio)"
}

// Summarize tallies the verdicts of every family.
func Summarize(d *Data) []Tally {
	var out []Tally
	for _, f := range d.Families {
		t := Tally{Family: f.Name}
		for _, wl := range f.Workloads {
			for _, p := range d.Procs {
				for _, c := range Compare(wl, p) {
					switch c.Verdict {
					case Leads:
						t.Leads++
					case Par:
						t.Par++
					case Trails:
						t.Trails++
						t.Trailing = append(t.Trailing, fmt.Sprintf("%s %s @%d CPU (%.2f× %s)", wl.Name, c.Impl, p, c.Ratio, c.Peer))
					default:
						continue
					}
					t.Total++
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// WriteSummary writes the short table the README carries: per family, how
// often lockstep leads, is at par with, or trails the fastest peer, and
// which comparisons trail.
func WriteSummary(w io.Writer, d *Data) error {
	var b strings.Builder
	b.WriteString("| family | leads | par | trails | trailing comparisons |\n|---|---:|---:|---:|---|\n")
	for _, t := range Summarize(d) {
		if t.Total == 0 {
			continue
		}
		b.WriteString(row(t.Family, fmt.Sprint(t.Leads), fmt.Sprint(t.Par), fmt.Sprint(t.Trails), strings.Join(t.Trailing, "; ")) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
