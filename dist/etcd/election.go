package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lockstep-go/lockstep/dist"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An Election elects one leader among the candidates that campaign under a
// name: ZooKeeper's recipe on etcd. Each candidate's campaign is a key bound
// to its session's lease; the candidate whose key was created first leads,
// and when it resigns or its session dies, the next in line takes over.
// Candidates take over in the order they started campaigning.
//
// An Election is safe for concurrent use. A session may campaign more than
// once; its campaigns queue like anyone else's.
type Election struct {
	s      *Session
	prefix string
}

// NewElection returns the election named name on session s. Campaign keys
// are created under name + "/".
func NewElection(s *Session, name string) *Election {
	if s == nil {
		panic("etcd: NewElection with nil Session")
	}
	return &Election{s: s, prefix: strings.TrimSuffix(name, "/") + "/"}
}

// Leader describes the leader of an election at some revision.
type Leader struct {
	Value string // the value the leader campaigned with or last proclaimed
	Token int64  // the leader's fencing token: its key's create revision
	Key   string // the leader's campaign key
}

// Campaign enters the election with value and blocks until the caller
// leads. On success it returns the leadership, which lasts until Resign or
// until the session's lease is lost.
//
// If ctx ends first, Campaign returns an error for which errors.Is(err,
// ctx.Err()) holds and withdraws the candidacy (its key is deleted, so no
// key is left behind). If the session ends, it returns
// [dist.ErrSessionClosed].
func (e *Election) Campaign(ctx context.Context, value string) (*Leadership, error) {
	en, err := e.s.acquire(ctx, "campaign", e.prefix, value, 1)
	if err != nil {
		return nil, err
	}
	return &Leadership{held{s: e.s, entry: en}}, nil
}

// Leader returns the current leader, or [dist.ErrNoLeader] if nobody is
// campaigning.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	if err := ctx.Err(); err != nil {
		return Leader{}, fmt.Errorf("etcd: leader: %w", err)
	}
	resp, err := e.s.client.Get(ctx, e.prefix, append(clientv3.WithFirstCreate(), inLine(e.prefix))...)
	if err != nil {
		return Leader{}, wrap(ctx, "leader", err)
	}
	if len(resp.Kvs) == 0 {
		return Leader{}, fmt.Errorf("etcd: leader %s: %w", e.prefix, dist.ErrNoLeader)
	}
	return leaderOf(resp.Kvs[0]), nil
}

func leaderOf(kv *mvccpb.KeyValue) Leader {
	return Leader{Value: string(kv.Value), Token: kv.CreateRevision, Key: string(kv.Key)}
}

// Observe streams the leaders of the election: first the current leader, if
// any, then every change of leader and every Proclaim of a new value, in
// revision order. It replays etcd's history of the prefix rather than
// re-reading the leader after each change, so it reports every leader that
// led at any revision, even one that led only briefly, and never reports
// one twice in a row. Times with no leader are not reported.
//
// The channel is unbuffered: a slow reader delays Observe, not the
// election. It is closed when ctx ends or the client is closed. If etcd
// compacts history the stream has not read yet, Observe resumes from the
// current state and may skip leaders that came and went in the gap.
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	ch := make(chan Leader)
	go e.observe(ctx, ch)
	return ch
}

// observeRetry is the pause before Observe reads again after an error.
const observeRetry = 100 * time.Millisecond

func (e *Election) observe(ctx context.Context, ch chan<- Leader) {
	defer close(ch)
	client := e.s.client
	var last Leader // last sent; zero before the first
	send := func(cands map[string]*mvccpb.KeyValue) bool {
		var first *mvccpb.KeyValue
		for _, kv := range cands {
			if first == nil || kv.CreateRevision < first.CreateRevision {
				first = kv
			}
		}
		if first == nil {
			return true
		}
		l := leaderOf(first)
		if l == last {
			return true
		}
		select {
		case ch <- l:
			last = l
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		if ctx.Err() != nil || client.Ctx().Err() != nil {
			return
		}
		resp, err := client.Get(ctx, e.prefix, inLine(e.prefix))
		if err != nil {
			if !pause(ctx, client, observeRetry) {
				return
			}
			continue
		}
		cands := make(map[string]*mvccpb.KeyValue, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			cands[string(kv.Key)] = kv
		}
		if !send(cands) {
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		wch := client.Watch(clientv3.WithRequireLeader(wctx), e.prefix,
			inLine(e.prefix), clientv3.WithRev(resp.Header.Revision+1))
		ok := e.replay(wch, cands, send)
		cancel()
		if !ok {
			return
		}
		// The watch failed (compaction, lost leader, closed client): read
		// the state afresh.
		if !pause(ctx, client, observeRetry) {
			return
		}
	}
}

// replay applies watch events to cands and sends the leader after each
// revision. It returns false if send gave up (ctx ended), true when the watch
// ended for another reason.
func (e *Election) replay(wch clientv3.WatchChan, cands map[string]*mvccpb.KeyValue, send func(map[string]*mvccpb.KeyValue) bool) bool {
	for wr := range wch {
		if wr.Err() != nil {
			return true
		}
		// A transaction's events share one revision; its intermediate states
		// never existed for anyone, so evaluate the leader per revision.
		for i, ev := range wr.Events {
			switch ev.Type {
			case mvccpb.PUT:
				cands[string(ev.Kv.Key)] = ev.Kv
			case mvccpb.DELETE:
				delete(cands, string(ev.Kv.Key))
			}
			if i+1 == len(wr.Events) || wr.Events[i+1].Kv.ModRevision != ev.Kv.ModRevision {
				if !send(cands) {
					return false
				}
			}
		}
	}
	return true
}

// pause waits for d, and reports false if ctx ended or the client closed.
func pause(ctx context.Context, client *clientv3.Client, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-client.Ctx().Done():
		return false
	}
}

// A Leadership is one won campaign: the caller leads until Resign or until
// its session's lease is lost. Like a [Lock] it is a lease: pass
// [Leadership.Token] to what the leader writes to, or guard etcd writes with
// [Leadership.IsLeader].
type Leadership struct {
	held
}

// Token returns the leader's fencing token, its key's create revision; it
// grows strictly with every leadership of the election.
func (l *Leadership) Token() int64 { return l.rev }

// Key returns the leader's campaign key.
func (l *Leadership) Key() string { return l.key }

// Lost returns a channel that is closed when the session's lease is lost or
// closed: from then on another candidate may lead. Resign does not close it.
func (l *Leadership) Lost() <-chan struct{} { return l.s.Done() }

// IsLeader returns a comparison that holds while this leadership lasts, for
// the If of an etcd transaction.
func (l *Leadership) IsLeader() clientv3.Cmp { return l.isOwner() }

// Proclaim replaces the leader's value without an election, atomically with
// the check that the caller still leads; observers see the new value. It
// returns [dist.ErrNotLeader] if the leadership was lost or resigned.
func (l *Leadership) Proclaim(ctx context.Context, value string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("etcd: proclaim %s: %w", l.key, dist.ErrNotLeader)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: proclaim: %w", err)
	}
	if l.s.client.Ctx().Err() != nil {
		return fmt.Errorf("etcd: proclaim: client closed: %w", dist.ErrSessionClosed)
	}
	resp, err := l.s.client.Txn(ctx).If(l.IsLeader()).
		Then(clientv3.OpPut(l.key, value, clientv3.WithIgnoreLease())).Commit()
	if err != nil {
		return wrap(ctx, "proclaim", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd: proclaim %s: %w", l.key, dist.ErrNotLeader)
	}
	return nil
}

// Resign gives up the leadership, so that the next candidate takes over at
// once. Like [Lock.Unlock] it deletes only its own key; if the key was
// already gone it returns [dist.ErrNotLeader]. After a failure for another
// reason it may be called again. Calling it again after it returned nil or
// ErrNotLeader is a bug and panics.
func (l *Leadership) Resign(ctx context.Context) error {
	return l.release(ctx, "resign", dist.ErrNotLeader, "etcd: Resign of resigned Leadership")
}
