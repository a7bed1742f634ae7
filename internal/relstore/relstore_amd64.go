//go:build !race

package relstore

import (
	"sync/atomic"
	"unsafe"
)

// Uint64 stores v into *p with a release store: a plain MOV.
func Uint64(p *atomic.Uint64, v uint64) { store64(unsafe.Pointer(p), v) }

// Uint32 stores v into *p with a release store: a plain MOV.
func Uint32(p *atomic.Uint32, v uint32) { store32(unsafe.Pointer(p), v) }

//go:noescape
func store64(p unsafe.Pointer, v uint64)

//go:noescape
func store32(p unsafe.Pointer, v uint32)
