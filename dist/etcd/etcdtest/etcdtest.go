// Package etcdtest starts an etcd server inside the current process, for
// tests, examples and single-process development, the way net/http/httptest
// starts an HTTP server.
//
// The server listens on free loopback ports, keeps its data in a fresh
// temporary directory that Close removes, logs nothing, and uses short
// heartbeat and election ticks so that it is ready in well under a second.
// It is a real etcd (go.etcd.io/etcd/server/v3/embed), not a fake, but it is a
// single member without fsync: do not use it where the data must survive a
// crash of the process.
package etcdtest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running single-member etcd server.
type Server struct {
	// Endpoint is the client URL, e.g. "http://127.0.0.1:40123".
	Endpoint string

	etcd *embed.Etcd
	dir  string

	mu      sync.Mutex // protects clients
	clients []*clientv3.Client
	closed  bool
}

// startTimeout bounds how long NewServer waits for the member to become
// leader.
const startTimeout = 10 * time.Second

// NewServer starts a server and waits until it serves requests.
// The caller must call Close.
//
// Each configure function, if any, is called on the server's configuration
// after the defaults above are set and before the server starts: a test
// that needs, say, slower election ticks (which raise the shortest lease
// TTL the server grants, 1.5 election timeouts) sets them there.
func NewServer(configure ...func(*embed.Config)) (*Server, error) {
	dir, err := os.MkdirTemp("", "etcdtest-")
	if err != nil {
		return nil, fmt.Errorf("etcdtest: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// Port 0: the kernel picks a free port for each listener, so parallel
	// test binaries never collide. A single member never dials its peer URL.
	lo := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lo}, []url.URL{lo}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lo}, []url.URL{lo}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 50
	cfg.UnsafeNoFsync = true
	cfg.ListenMetricsUrls = nil
	for _, f := range configure {
		f(cfg)
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("etcdtest: start: %w", err)
	}
	s := &Server{etcd: e, dir: dir, Endpoint: "http://" + e.Clients[0].Addr().String()}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("etcdtest: start: %w", err)
	case <-time.After(startTimeout):
		s.Close()
		return nil, errors.New("etcdtest: server not ready after " + startTimeout.String())
	}
	return s, nil
}

// Client returns a new client connected to s. Close closes every client it
// handed out that is still open; closing one earlier, as a test of a crashed
// process does, is fine.
func (s *Server) Client() (*clientv3.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("etcdtest: Client on closed Server")
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdtest: client: %w", err)
	}
	s.clients = append(s.clients, c)
	return c, nil
}

// Close closes the clients from Client, stops the server and removes its
// data directory. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, c := range clients {
		c.Close() // an already closed client returns an error: ignore it
	}
	s.etcd.Close()
	os.RemoveAll(s.dir)
}

// Start starts a server for the test or benchmark tb and closes it when tb
// ends. It fails tb if the server does not start. configure is as for
// [NewServer].
func Start(tb testing.TB, configure ...func(*embed.Config)) *Server {
	tb.Helper()
	s, err := NewServer(configure...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewClient returns a client of s for tb; the server's Close closes it.
func (s *Server) NewClient(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c, err := s.Client()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
