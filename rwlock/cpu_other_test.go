//go:build !unix

package rwlock_test

import "testing"

// startCPU reports nothing where getrusage is not available.
func startCPU(*testing.B) (stop func()) { return func() {} }
