//go:build !race

#include "textflag.h"

// func store64(p unsafe.Pointer, v uint64)
//
// A plain MOV: amd64's total store order makes it a release store. The
// atomic types are 8-byte aligned, so the store is single-copy atomic.
TEXT ·store64(SB), NOSPLIT, $0-16
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), DX
	MOVQ	DX, (AX)
	RET

// func store32(p unsafe.Pointer, v uint32)
TEXT ·store32(SB), NOSPLIT, $0-12
	MOVQ	p+0(FP), AX
	MOVL	v+8(FP), DX
	MOVL	DX, (AX)
	RET
