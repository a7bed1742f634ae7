//go:build !amd64 || race

package relstore

import "sync/atomic"

// Uint64 stores v into *p: a sequentially consistent store (see the
// package doc; on amd64 without -race it is a plain MOV).
func Uint64(p *atomic.Uint64, v uint64) { p.Store(v) }

// Uint32 stores v into *p: a sequentially consistent store.
func Uint32(p *atomic.Uint32, v uint32) { p.Store(v) }
