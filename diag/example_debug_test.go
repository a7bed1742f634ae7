//go:build lockstep_debug

package diag_test

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/lockstep-go/lockstep/diag"
	"github.com/lockstep-go/lockstep/mutex"
)

// A lock-order inversion is found although it never deadlocks: a transfer
// takes the accounts lock, then the ledger lock, and finishes; later an
// audit takes the ledger lock, then the accounts lock. Had the two run at the
// same time, each could have held its first lock and waited forever for the
// other's. The report comes when the audit asks for the accounts lock,
// before it can block, with the two stacks of each order.
//
// Run it with go test -tags lockstep_debug; without the tag the checker is
// compiled out and the example is not built.
func Example_inversion() {
	diag.Reset() // forget orders learned by earlier examples and tests
	defer diag.Configure(diag.Configure(diag.Config{
		Report: func(r *diag.Report) {
			fmt.Println(r.Kind)
			fmt.Println(strings.Join(r.Locks, " <-> "))
			for _, s := range r.Stacks {
				fmt.Println(" ", anyGoroutine(s.Title))
				fmt.Println("   ", strings.SplitN(s.Text, "(", 2)[0]) // the innermost caller
			}
		},
	}))

	var accounts, ledger mutex.Mutex
	diag.SetName(&accounts, "accounts")
	diag.SetName(&ledger, "ledger")

	transfer := func() {
		accounts.Lock()
		ledger.Lock()
		ledger.Unlock()
		accounts.Unlock()
	}
	audit := func() {
		ledger.Lock()
		accounts.Lock() // reported here
		accounts.Unlock()
		ledger.Unlock()
	}

	done := make(chan struct{})
	go func() {
		transfer()
		close(done)
	}()
	<-done
	audit()

	// Output:
	// lock order inversion
	// ledger <-> accounts
	//   goroutine N locked "ledger" here:
	//     github.com/lockstep-go/lockstep/diag_test.Example_inversion.func3
	//   then, holding "ledger", goroutine N locks "accounts" here:
	//     github.com/lockstep-go/lockstep/diag_test.Example_inversion.func3
	//   earlier, goroutine N locked "accounts" here:
	//     github.com/lockstep-go/lockstep/diag_test.Example_inversion.func2
	//   then, holding "accounts", goroutine N locked "ledger" here:
	//     github.com/lockstep-go/lockstep/diag_test.Example_inversion.func2
}

var goroutineID = regexp.MustCompile(`goroutine \d+`)

// anyGoroutine hides goroutine ids, which vary between runs.
func anyGoroutine(s string) string { return goroutineID.ReplaceAllString(s, "goroutine N") }
