package barrier

// SetParallelism makes barriers assume n goroutines can run at once (n = 1:
// never busy-wait, but for a 1-party barrier or while a Phaser's OnAdvance
// runs; n large: always), and returns a function that restores the
// default. A barrier reads it when created and again every refreshProcs
// generations or phases. Benchmarks use it to measure the spin-before-park
// policy; it must not be called while barriers are in use.
func SetParallelism(n int) (restore func()) {
	old := parallelismOverride
	parallelismOverride = n
	return func() { parallelismOverride = old }
}

// SetPhase moves an idle phaser (no party arrived, no advance running) to
// phase, to test the wrap-around.
func SetPhase(p *Phaser, phase int) {
	s := p.state.Load()
	p.state.Store(s&^phaseMask | phaseBits(phase))
}
