// Package panics turns a recovered panic into an error that carries the
// panic value and the stack of the goroutine that panicked. pool, future and
// barrier share it so that every lockstep API reports a user panic the same
// way, and never swallows one.
package panics

import (
	"fmt"
	"runtime/debug"
)

// Error is a recovered panic. Value is what was passed to panic; Stack is
// the panicking goroutine's stack as debug.Stack formats it, taken inside
// the deferred recover so that it still names the frame that panicked.
type Error struct {
	Value any
	Stack []byte
}

// Error reports the value and the stack.
func (e *Error) Error() string {
	return fmt.Sprintf("panic: %v\n\ngoroutine stack:\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (e *Error) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Try calls fn and returns its panic, if any, as an *Error. A nil return
// means fn returned normally. A runtime.Goexit in fn is not a panic: it
// unwinds through Try as it would through any function.
func Try(fn func()) (err *Error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Value: v, Stack: debug.Stack()}
		}
	}()
	fn()
	return nil
}
