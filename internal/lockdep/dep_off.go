//go:build !lockstep_debug

package lockdep

import (
	"time"
	"unsafe"
)

// Enabled reports whether this is a debug build (-tags lockstep_debug).
const Enabled = false

// depToken is empty: without the tag the hooks below are empty functions,
// which the compiler inlines to nothing.
type depToken struct{}

func depAcquire(unsafe.Pointer, *Type, Mode) depToken { return depToken{} }
func depWait(depToken)                                {}
func depAcquired(depToken)                            {}
func depCanceled(depToken)                            {}
func depTryAcquired(unsafe.Pointer, *Type, Mode)      {}
func depRelease(unsafe.Pointer, *Type, Mode)          {}
func depReleaseOwn(unsafe.Pointer, Mode)              {}
func depDowngrade(unsafe.Pointer)                     {}

// SetHandler, SetLongWait, SetName, SetUnowned and Reset configure the
// lock-order checker, which a build without the tag does not have: they do
// nothing.
func SetHandler(func(*Report))       {}
func SetLongWait(time.Duration)      {}
func SetName(unsafe.Pointer, string) {}
func SetUnowned(unsafe.Pointer)      {}
func Reset()                         {}
