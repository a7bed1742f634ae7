// Package redistest starts a private redis-server for a test.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process started for one test.
type Server struct {
	Addr string

	cmd     *exec.Cmd
	waitErr chan error // receives cmd.Wait's result
}

// Start starts redis-server on a free loopback port, without persistence,
// and stops it when tb ends. Without a redis-server on PATH it skips tb,
// unless CI=true, where it fails tb: a missing install step must not turn
// into silently skipped tests.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("redis-server not found on PATH (CI=true): install it (apt-get install -y redis-server)")
		}
		tb.Skip("redis-server not found on PATH; install it to run the Redis tests")
	}
	var lastErr error
	for range 5 { // the port picked can be taken before redis binds it
		s, err := start(bin)
		if err == nil {
			tb.Cleanup(s.stop)
			return s
		}
		lastErr = err
	}
	tb.Fatal(lastErr)
	return nil
}

func start(bin string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.waitErr = exited
			return s, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("redistest: redis-server on port %d exited: %v", port, err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("redistest: redis-server on port %d not ready: %v", port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Client returns a client of s, closed when tb ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	tb.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) stop() {
	s.cmd.Process.Kill()
	<-s.waitErr
}
