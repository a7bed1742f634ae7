package cacheline_test

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/lockstep-go/lockstep/internal/cacheline"
)

func TestPadSeparatesFields(t *testing.T) {
	var s struct {
		a atomic.Uint64
		_ cacheline.Pad
		b atomic.Uint64
	}
	if d := uintptr(unsafe.Pointer(&s.b)) - uintptr(unsafe.Pointer(&s.a)); d < cacheline.Size {
		t.Fatalf("fields %d bytes apart, want at least %d", d, cacheline.Size)
	}
	if unsafe.Sizeof(cacheline.Pad{}) != cacheline.Size {
		t.Fatalf("Pad is %d bytes, want %d", unsafe.Sizeof(cacheline.Pad{}), cacheline.Size)
	}
}
