package dist

import (
	"fmt"
	"sync"
)

// Fence is the check that the protected resource runs on every write: it
// admits a fencing token only if no higher token has been admitted before.
// It is what makes a distributed lock safe when its holder pauses (GC, swap,
// a stalled network) past its lease: the late writer's token is lower than
// the one the new holder already used, so its write is refused.
//
// Fence keeps the highest token in memory, so it fits a resource that is one
// process (a storage server, a single writer to a file). A resource behind a
// database does the same check in the write itself, in one statement:
//
//	UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence <= $2
//
// and treats zero rows updated as [ErrStaleToken].
//
// The zero value admits any token. A Fence must not be copied after first
// use. Check is safe for concurrent use: a Check that admits a token
// synchronizes before every later Check.
type Fence struct {
	_    noCopy
	mu   sync.Mutex // protects high
	high int64
}

// Check admits token if it is at least the highest token admitted so far
// (the same holder writes several times with one token) and records it.
// Otherwise it returns an error wrapping [ErrStaleToken].
func (f *Fence) Check(token int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token < f.high {
		return fmt.Errorf("%w: %d < %d", ErrStaleToken, token, f.high)
	}
	f.high = token
	return nil
}

// High returns the highest token admitted so far, 0 if none.
func (f *Fence) High() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.high
}

// noCopy may be added to structs which must not be copied after first use;
// go vet's -copylocks checker reports copies. It must not be embedded.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
