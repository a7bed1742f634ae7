package report

import (
	"math"

	"golang.org/x/perf/benchmath"
)

// Verdict says how a lockstep implementation compares with the best peer.
type Verdict int

const (
	Par    Verdict = iota // the confidence intervals overlap, or within 5% without intervals
	Leads                 // lockstep is faster than every peer
	Trails                // lockstep is slower than some peer, so than the fastest
	NoPeer                // nothing to compare with
)

func (v Verdict) String() string {
	return [...]string{"par", "leads", "trails", "no peer"}[v]
}

// Mark is the symbol a table shows for a verdict.
func (v Verdict) Mark() string {
	return [...]string{"≈", "✅", "❌", ""}[v]
}

// parBand is the ratio band around 1 that counts as parity when either side
// has no confidence interval (fewer than six runs).
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
// out, and so are bounds (IsBound), which are not peers.
func Compare(w *Workload, procs int) []Comparison {
	var best *Series
	var bestSum benchmath.Summary
	for _, s := range w.Series {
		sum, ok := s.ByProcs[procs]
		if !ok || IsLockstep(s.Impl) || IsBound(s.Impl) {
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
		// Leading is being faster than every peer (the one with the best
		// median need not be clearly the fastest); trailing is being
		// slower than any peer.
		leads, trails := true, false
		for _, p := range w.Series {
			psum, ok := p.ByProcs[procs]
			if !ok || IsLockstep(p.Impl) || IsBound(p.Impl) {
				continue
			}
			faster, slower := decided(sum, psum)
			leads = leads && faster
			trails = trails || slower
		}
		switch {
		case leads:
			c.Verdict = Leads
		case trails:
			c.Verdict = Trails
		default:
			c.Verdict = Par
		}
		out = append(out, c)
	}
	return out
}

// hasInterval reports whether s has a confidence interval: with fewer than
// six runs benchmath gives none (its bounds are infinite).
func hasInterval(s benchmath.Summary) bool {
	return !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0)
}

// decided reports whether a is decidedly faster or slower than b: by
// separated confidence intervals when both have one (overlapping intervals
// are parity, however far apart the medians), and by the ratio band alone
// when either has none.
func decided(a, b benchmath.Summary) (faster, slower bool) {
	if hasInterval(a) && hasInterval(b) {
		return a.Hi < b.Lo, a.Lo > b.Hi
	}
	r := a.Center / b.Center
	return r < 1-parBand, r > 1+parBand
}
