//go:build !amd64 && !arm64

package backoff

// Pause waits about as long as n spin-wait hints would; see pause.go. This
// architecture has no assembly for it here, so it relaxes instead.
func Pause(n uint32) { Relax(n * pauseRelax) }

// pauseRelax is about how many Relax iterations one PAUSE lasts on the
// amd64 machines this was measured on (25-30 ns).
const pauseRelax = 24
