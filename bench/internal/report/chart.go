package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.=-]+`)

// ChartFile is the file name of a workload's chart.
func ChartFile(family string, w *Workload) string {
	name := family
	if w.Name != "" {
		name += "_" + w.Name
	}
	return unsafeChars.ReplaceAllString(strings.ReplaceAll(name, "/", "_"), "-") + ".svg"
}

// WriteCharts draws one SVG per workload into dir: time per operation
// against GOMAXPROCS, one line per implementation, log-scaled time. It
// returns the files written, relative to dir. A run with one GOMAXPROCS
// value has nothing to plot against cores and writes no charts. The .svg
// files already in dir, an earlier run's, are removed first.
func WriteCharts(dir string, d *Data) ([]string, error) {
	// The charts of an earlier run into dir are not this run's.
	old, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	if len(d.Procs) < 2 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	used := map[string]bool{}
	for _, f := range d.Families {
		for _, wl := range f.Workloads {
			p := plot.New()
			p.Title.Text = f.Name + " " + wl.Name
			p.X.Label.Text = "GOMAXPROCS"
			p.Y.Label.Text = "time per op (ns, log scale)"
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			p.X.Scale = plot.LogScale{} // 1, 2, 4, 8, 16 evenly spaced
			p.X.Tick.Marker = procsTicks(d.Procs)
			p.X.Padding = vg.Points(12)
			p.Legend.Top = true
			p.Legend.Left = true
			var lines []any
			for _, s := range wl.Series {
				var pts plotter.XYs
				for _, procs := range d.Procs {
					if sum, ok := s.ByProcs[procs]; ok && sum.Center > 0 {
						pts = append(pts, plotter.XY{X: float64(procs), Y: sum.Center * 1e9})
					}
				}
				if len(pts) == 0 {
					continue
				}
				name := s.Impl
				if IsLockstep(name) {
					name += " *"
				}
				lines = append(lines, name, pts)
			}
			if len(lines) == 0 {
				continue
			}
			if err := plotutil.AddLinePoints(p, lines...); err != nil {
				return files, fmt.Errorf("%s %s: %w", f.Name, wl.Name, err)
			}
			// One GOMAXPROCS value, or one time, throughout: plot widens
			// an empty range by ±1, which reaches 0 on a log scale (and
			// panics) when the value is at most 1.
			widen(&p.X.Min, &p.X.Max)
			widen(&p.Y.Min, &p.Y.Max)
			// Names that differ only in characters ChartFile maps alike
			// ("a/b" and "a_b") get a numbered file each.
			file := ChartFile(f.Name, wl)
			for i := 2; used[file]; i++ {
				file = fmt.Sprintf("%s-%d.svg", strings.TrimSuffix(ChartFile(f.Name, wl), ".svg"), i)
			}
			used[file] = true
			if err := p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, file)); err != nil {
				return files, err
			}
			files = append(files, file)
		}
	}
	return files, nil
}

func procsTicks(procs []int) plot.Ticker {
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		for _, p := range procs {
			if float64(p) >= min-0.5 && float64(p) <= max+0.5 {
				ts = append(ts, plot.Tick{Value: float64(p), Label: fmt.Sprint(p)})
			}
		}
		if len(ts) == 0 {
			ts = append(ts, plot.Tick{Value: math.Round(min), Label: fmt.Sprint(math.Round(min))})
		}
		return ts
	})
}

// widen gives an empty log-scaled range [v, v] a positive width.
func widen(min, max *float64) {
	if *min == *max {
		*min, *max = *min/2, *max*2
	}
}
