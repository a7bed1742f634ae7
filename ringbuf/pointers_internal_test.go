package ringbuf

import (
	"testing"
	"unsafe"
)

// pointerFree must say no for every type the garbage collector looks
// inside: a yes for one of them would leave popped items' referents alive
// in the slots of a batch.
func TestPointerFree(t *testing.T) {
	type flat struct {
		a int
		b [3]float64
		c complex128
	}
	type hidden struct {
		a int
		s []byte
	}
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"int", pointerFree[int](), true},
		{"uint8", pointerFree[uint8](), true},
		{"float64", pointerFree[float64](), true},
		{"bool", pointerFree[bool](), true},
		{"uintptr", pointerFree[uintptr](), true},
		{"[4]int", pointerFree[[4]int](), true},
		{"[0]*int", pointerFree[[0]*int](), true},
		{"struct of numbers", pointerFree[flat](), true},
		{"struct{}", pointerFree[struct{}](), true},
		{"*int", pointerFree[*int](), false},
		{"string", pointerFree[string](), false},
		{"[]int", pointerFree[[]int](), false},
		{"map", pointerFree[map[int]int](), false},
		{"chan", pointerFree[chan int](), false},
		{"func", pointerFree[func()](), false},
		{"any", pointerFree[any](), false},
		{"error", pointerFree[error](), false},
		{"unsafe.Pointer", pointerFree[unsafe.Pointer](), false},
		{"struct with a slice", pointerFree[hidden](), false},
		{"array of structs with a slice", pointerFree[[2]hidden](), false},
		{"array of strings", pointerFree[[1]string](), false},
	} {
		if tc.got != tc.want {
			t.Errorf("pointerFree[%s]() = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
