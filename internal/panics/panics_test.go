package panics_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/internal/panics"
)

func boom() { panic("boom") }

func TestTryCapturesValueAndStack(t *testing.T) {
	err := panics.Try(boom)
	if err == nil {
		t.Fatal("Try returned nil for a panicking function")
	}
	if err.Value != "boom" {
		t.Fatalf("Value = %v, want boom", err.Value)
	}
	if !strings.Contains(string(err.Stack), "panics_test.boom") {
		t.Fatalf("stack does not name the panicking frame:\n%s", err.Stack)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Error() = %q does not name the value", err.Error())
	}
}

func TestTryNoPanic(t *testing.T) {
	ran := false
	if err := panics.Try(func() { ran = true }); err != nil || !ran {
		t.Fatalf("Try(fn) = %v, ran = %v; want nil, true", err, ran)
	}
}

func TestUnwrapErrorValue(t *testing.T) {
	err := panics.Try(func() { panic(io.EOF) })
	if !errors.Is(err, io.EOF) {
		t.Fatalf("errors.Is(%v, io.EOF) = false", err)
	}
	if errors.Unwrap(panics.Try(boom)) != nil {
		t.Fatal("a non-error panic value unwrapped to an error")
	}
}
