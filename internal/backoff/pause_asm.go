//go:build amd64 || arm64

package backoff

// Pause executes the processor's spin-wait hint n times: PAUSE on amd64,
// YIELD on arm64, as the runtime's procyield does for sync.Mutex's spin
// (runtime/asm_amd64.s, runtime/asm_arm64.s). See pause.go.
func Pause(n uint32)
