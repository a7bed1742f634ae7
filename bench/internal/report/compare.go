package report

import (
	"math"

	"golang.org/x/perf/benchmath"
)

// Verdict says how a lockstep implementation compares with the best peer.
type Verdict int

const (
	Par    Verdict = iota // the confidence intervals overlap, or within 5%
	Leads                 // lockstep is faster
	Trails                // lockstep is slower
	NoPeer                // nothing to compare with
)

func (v Verdict) String() string {
	return [...]string{"par", "leads", "trails", "no peer"}[v]
}

// Mark is the symbol a table shows for a verdict.
func (v Verdict) Mark() string {
	return [...]string{"≈", "✅", "❌", ""}[v]
}

// parBand is the ratio band around 1 that counts as parity when the
// confidence intervals cannot separate the two (a single run, say).
const parBand = 0.05

// Comparison is one lockstep implementation against the fastest peer on one
// workload at one GOMAXPROCS.
type Comparison struct {
	Impl    string
	Peer    string  // the fastest non-lockstep implementation
	Ratio   float64 // lockstep time / peer time: below 1 is faster
	Verdict Verdict
}

// Compare compares every lockstep implementation of w with the fastest
// peer at procs. Implementations without a measurement at procs are left
// out.
func Compare(w *Workload, procs int) []Comparison {
	var best *Series
	var bestSum benchmath.Summary
	for _, s := range w.Series {
		sum, ok := s.ByProcs[procs]
		if !ok || IsLockstep(s.Impl) {
			continue
		}
		if best == nil || sum.Center < bestSum.Center {
			best, bestSum = s, sum
		}
	}
	var out []Comparison
	for _, s := range w.Series {
		sum, ok := s.ByProcs[procs]
		if !ok || !IsLockstep(s.Impl) {
			continue
		}
		if best == nil {
			out = append(out, Comparison{Impl: s.Impl, Ratio: math.NaN(), Verdict: NoPeer})
			continue
		}
		c := Comparison{Impl: s.Impl, Peer: best.Impl, Ratio: sum.Center / bestSum.Center}
		// With fewer than six runs benchmath gives no confidence interval
		// (its bounds are infinite); then the ratio band alone decides.
		known := !math.IsInf(sum.Lo, 0) && !math.IsInf(sum.Hi, 0) &&
			!math.IsInf(bestSum.Lo, 0) && !math.IsInf(bestSum.Hi, 0)
		switch {
		case c.Ratio < 1-parBand && (!known || sum.Hi < bestSum.Lo):
			c.Verdict = Leads
		case c.Ratio > 1+parBand && (!known || sum.Lo > bestSum.Hi):
			c.Verdict = Trails
		default:
			c.Verdict = Par
		}
		out = append(out, c)
	}
	return out
}
