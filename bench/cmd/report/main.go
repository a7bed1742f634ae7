// Command report runs lockstep's comparison suite (package suite) across
// GOMAXPROCS values and writes the report: a Markdown table per family with
// lockstep's ratio to the fastest peer, SVG charts of time per operation
// against cores, and the raw results in Go benchmark format for benchstat.
//
// From the repository root:
//
//	go -C bench run ./cmd/report            # full run, about 10 minutes on 2 cores
//	go -C bench run ./cmd/report -quick     # a rough picture in under 2 minutes
//	go -C bench run ./cmd/report -run 'Locks|Queues' -cpu 1,2,4,8,16
//	go -C bench run ./cmd/report -in results/raw.txt   # re-render a saved run
//
// To benchmark a machine without Go (a target server, another architecture),
// build a kit here and run it there:
//
//	go -C bench run ./cmd/report -kit /tmp/kit -target linux/arm64
//	scp -r /tmp/kit target: && ssh target 'cd kit && ./report -bin ./suite.test'
//
// The kit is the suite compiled as a test binary and this command, both for
// -target (this machine's system by default); -bin makes the report run that
// binary instead of building the suite, so the target needs neither Go nor
// the module cache. Bring back the kit's results/ folder (raw.txt is the
// input for benchstat, or for -in on any machine).
//
// Runs are interleaved: the suite runs -count times over, each time every
// benchmark once per GOMAXPROCS value, so that drift on a shared machine
// (another tenant, thermal throttling, the CPUs moving between cores) hits
// every implementation alike instead of whichever ran during it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-go/lockstep/bench/internal/report"
)

func main() {
	var (
		cpus      = flag.String("cpu", defaultCPUs(), "comma-separated GOMAXPROCS values")
		count     = flag.Int("count", 6, "interleaved rounds; 6 or more give 95% confidence intervals")
		benchtime = flag.String("benchtime", "100ms", "time per benchmark per round (go test -benchtime)")
		filter    = flag.String("run", ".", "regexp selecting benchmarks (go test -bench)")
		quick     = flag.Bool("quick", false, "one short round at 1 and all CPUs: a rough picture in under 2 minutes")
		out       = flag.String("out", "results", "directory for report.md, raw.txt and charts/")
		in        = flag.String("in", "", "render the report from this raw results file instead of running")
		bin       = flag.String("bin", "", "run this prebuilt suite test binary (from -kit, or go test -c ./suite) instead of building the suite")
		kit       = flag.String("kit", "", "build the suite and this command into this directory, for -target, and exit")
		target    = flag.String("target", runtime.GOOS+"/"+runtime.GOARCH, "GOOS/GOARCH that -kit builds for")
	)
	flag.Parse()
	if *kit != "" {
		if err := buildKit(*kit, *target); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	}
	if *quick {
		*count, *benchtime = 1, "20ms"
		if !flagSet("cpu") {
			*cpus = quickCPUs()
		}
	}
	if err := run(*cpus, *count, *benchtime, *filter, *out, *in, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultCPUs is 1, 2, 4, ... up to the number of CPUs, and the number of
// CPUs itself.
func defaultCPUs() string {
	n := runtime.NumCPU()
	var ps []string
	for p := 1; p < n; p *= 2 {
		ps = append(ps, strconv.Itoa(p))
	}
	return strings.Join(append(ps, strconv.Itoa(n)), ",")
}

func quickCPUs() string {
	if n := runtime.NumCPU(); n > 1 {
		return "1," + strconv.Itoa(n)
	}
	return "1"
}

// buildKit compiles the suite's test binary and the report command into dir,
// for target ("GOOS/GOARCH"; cross-compiling when it is not this machine's
// system). It must run in the bench module's root, as the report does.
func buildKit(dir, target string) error {
	goos, goarch, ok := strings.Cut(target, "/")
	if !ok || goos == "" || goarch == "" {
		return fmt.Errorf("-target %q: want GOOS/GOARCH, as linux/arm64", target)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"test", "-c", "-o", filepath.Join(dir, "suite.test"), "./suite"},
		{"build", "-o", filepath.Join(dir, "report"), "./cmd/report"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s and %s; on the target, in that folder: ./report -bin ./suite.test\n",
		filepath.Join(dir, "suite.test"), filepath.Join(dir, "report"))
	return nil
}

func run(cpus string, count int, benchtime, filter, out, in, bin string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rawPath := filepath.Join(out, "raw.txt")
	start := time.Now()
	if in == "" {
		if err := runSuite(rawPath, bin, cpus, count, benchtime, filter); err != nil {
			return err
		}
	} else {
		rawPath = in
	}
	raw, err := os.ReadFile(rawPath)
	if err != nil {
		return err
	}
	d, err := report.Parse(bytes.NewReader(raw), rawPath)
	if err != nil {
		return err
	}
	for _, w := range d.Warnings {
		fmt.Fprintln(os.Stderr, "report: skipped", w)
	}
	charts, err := report.WriteCharts(filepath.Join(out, "charts"), d)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "# lockstep comparison report\n\n")
	if in == "" {
		goVersion := d.Config["goversion"] // the suite's own toolchain (see suite's TestMain)
		if goVersion == "" {
			goVersion = runtime.Version()
		}
		fmt.Fprintf(&md, "- date: %s\n- cpu: %s (%d logical CPUs), %s/%s\n- go: %s\n- rounds: %d, benchtime %s, GOMAXPROCS %s\n\n",
			time.Now().UTC().Format("2006-01-02"), d.Config["cpu"], runtime.NumCPU(), d.Config["goos"], d.Config["goarch"],
			goVersion, count, benchtime, cpus)
	} else {
		fmt.Fprintf(&md, "- rendered from %s (cpu: %s, %s/%s", in, d.Config["cpu"], d.Config["goos"], d.Config["goarch"])
		if v := d.Config["goversion"]; v != "" {
			fmt.Fprintf(&md, ", %s", v)
		}
		md.WriteString(")\n\n")
	}
	md.WriteString("Time per operation (median; ± is the 95% confidence interval when there are 6 or more rounds). " +
		"Ratios are lockstep ÷ the fastest other implementation in the same run: below 1 is faster. " +
		"✅ leads (faster than every other implementation), ❌ trails (slower than at least one), " +
		"≈ within noise (overlapping intervals, or within 5% without intervals).\n\n")
	md.WriteString("## Summary\n\n")
	if err := report.WriteSummary(&md, d); err != nil {
		return err
	}
	md.WriteString("\n## Tables\n\n")
	if err := report.WriteTables(&md, d); err != nil {
		return err
	}
	if len(charts) > 0 {
		md.WriteString("## Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(&md, "![%s](charts/%s)\n", strings.TrimSuffix(c, ".svg"), c)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s, %s and %d charts in %s (%s)\n",
		filepath.Join(out, "report.md"), rawPath, len(charts), filepath.Join(out, "charts"), time.Since(start).Round(time.Second))
	return nil
}

// runSuite compiles the suite once (unless bin names a prebuilt one), lists
// its benchmarks with a one-iteration dry run (so progress can say how many
// are left), then runs count interleaved rounds, appending everything to
// rawPath.
func runSuite(rawPath, bin, cpus string, count int, benchtime, filter string) error {
	if bin == "" {
		tmp, err := os.MkdirTemp("", "lockstep-report")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "suite.test")
		fmt.Fprintln(os.Stderr, "report: building the suite")
		build := exec.Command("go", "test", "-c", "-o", bin, "./suite")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the suite: %w", err)
		}
	} else if abs, err := filepath.Abs(bin); err == nil {
		bin = abs // exec.Command looks a bare name up in PATH
	}

	fmt.Fprintln(os.Stderr, "report: listing benchmarks (one iteration each)")
	var list bytes.Buffer
	dry := exec.Command(bin, "-test.run=^$", "-test.bench="+filter, "-test.benchtime=1x", "-test.cpu=1", "-test.count=1")
	dry.Stdout, dry.Stderr = &list, os.Stderr
	if err := dry.Run(); err != nil {
		return fmt.Errorf("listing benchmarks: %w\n%s", err, list.String())
	}
	var names []string
	for _, line := range strings.Split(list.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "Benchmark") {
			names = append(names, f[0])
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no benchmarks match %q", filter)
	}
	total := len(names) * len(strings.Split(cpus, ",")) * count

	f, err := os.Create(rawPath)
	if err != nil {
		return err
	}
	defer f.Close()
	p := &progress{total: total, start: time.Now()}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
	}
	for round := 1; round <= count; round++ {
		// One process per GOMAXPROCS value: with several -test.cpu values in
		// one process, Go 1.26 runs the first value's b.Loop benchmarks at
		// the last value's GOMAXPROCS (measured: -cpu 1,4,3 reports 3
		// inside the loop for the "1" run), which would make the 1-CPU
		// column a copy of the last.
		for _, procs := range strings.Split(cpus, ",") {
			if err := runOnce(f, p, bin, filter, benchtime, procs, round, count); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

func runOnce(f io.Writer, p *progress, bin, filter, benchtime, procs string, round, count int) error {
	cmd := exec.Command(bin, "-test.run=^$", "-test.bench="+filter, "-test.benchmem",
		"-test.benchtime="+benchtime, "-test.cpu="+procs, "-test.count=1", "-test.timeout=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	// A bufio.Reader, not a Scanner: a Scanner stops at a line over 64 KiB,
	// and the suite then blocks on the full pipe while Wait waits for it.
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			fmt.Fprintln(f, line)
			if fields := strings.Fields(line); len(fields) > 2 && strings.HasPrefix(fields[0], "Benchmark") {
				p.done(round, count, fields)
			}
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("round %d, GOMAXPROCS %s: %w", round, procs, err)
	}
	return nil
}

type progress struct {
	total, n int
	start    time.Time
	tty      bool
}

func (p *progress) done(round, rounds int, fields []string) {
	p.n++
	elapsed := time.Since(p.start)
	left := time.Duration(float64(elapsed) / float64(p.n) * float64(p.total-p.n))
	result := ""
	if i := slices.Index(fields, "ns/op"); i > 0 {
		result = fields[i-1] + " ns/op"
	}
	line := fmt.Sprintf("[%d/%d] round %d/%d, %s elapsed, ~%s left: %s %s",
		p.n, p.total, round, rounds, elapsed.Round(time.Second), left.Round(time.Second),
		strings.TrimPrefix(fields[0], "Benchmark"), result)
	if p.tty {
		fmt.Fprint(os.Stderr, "\r\033[K"+line) // rewrite one status line
	} else {
		fmt.Fprintln(os.Stderr, line) // a log, for CI and redirected output
	}
}
