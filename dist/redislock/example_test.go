package redislock_test

import (
	"context"
	"log"
	"time"

	"github.com/lockstep-go/lockstep/dist/redislock"
	"github.com/redis/go-redis/v9"
)

// Run a nightly report once across a fleet. Overlap would only waste work,
// so a Redis lock is enough. (Not run: it needs a Redis server.)
func Example() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()

	m := redislock.New(client, "jobs:nightly-report", redislock.WithTTL(30*time.Second))
	lock, err := m.TryLock(ctx)
	if err != nil {
		return // another instance runs it (dist.ErrLocked), or Redis is down
	}
	defer lock.Unlock(ctx)

	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost(): // the key expired or was taken: stop working
			cancel()
		case <-jobCtx.Done():
		}
	}()
	log.Printf("running the report with token %d", lock.Token())
	_ = jobCtx
}
