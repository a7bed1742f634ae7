package pool_test

import (
	"strings"
	"testing"

	"github.com/lockstep-go/lockstep/pool"
)

// Misuse panics with a "pool: " message (rule 6 of the contract). Group.Go and Group.Wait check for a nil Worker; Spawn
// dereferenced it (a runtime error), and Join with a single task ran the
// task with a nil Worker before Group.Wait panicked.
func TestNilWorkerMisusePanics(t *testing.T) {
	var w *pool.Worker
	ran := false
	for name, f := range map[string]func(){
		"Spawn on nil Worker":        func() { w.Spawn(func(*pool.Worker) { ran = true }) },
		"Join on nil Worker, 1 task": func() { _ = w.Join(func(*pool.Worker) { ran = true }) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "pool: ") {
					t.Errorf("%s: recovered %v, want a \"pool: \" panic", name, r)
				}
			}()
			f()
		}()
		if ran {
			t.Errorf("%s: ran the task before panicking", name)
			ran = false
		}
	}
}
