// Package etcd provides distributed locks, leader election, semaphores,
// barriers and latches on etcd, lockstep's reference backend for
// coordination across processes.
//
// Everything starts from a [Session]: a lease that the client keeps alive in
// the background, and that etcd deletes, with every key bound to it, when
// the process dies or is cut off for longer than the TTL. Locks, campaigns
// and permits are keys bound to their session's lease:
//
//	sess, err := etcd.NewSession(ctx, client, etcd.WithTTL(10*time.Second))
//	defer sess.Close(context.Background())
//	lock, err := etcd.NewMutex(sess, "/locks/orders").Lock(ctx)
//	defer lock.Unlock(context.Background())
//	err = store.Write(ctx, lock.Token(), data) // the store checks the token
//
// The recipes are the classic ones (ZooKeeper's lock and election, Curator's
// semaphore, barrier and double barrier) on etcd's client/v3 and its
// concurrency sessions, with what those lack: ctx on every call, a ctx that
// ends leaves no key behind, every acquisition has a key of its own and a
// fencing token, and releases delete a key only while its create revision
// still matches, so a stale or retried Unlock can never release a later
// holder's lock (etcd's own Mutex.Unlock deletes by key name,
// etcd-io/etcd#22082). A call whose ctx ends while its own key's put is
// still on its way deletes the key and, in the same transaction, writes a
// marker (under name + "/\xff", where no recipe reads or watches the line,
// bound to the session's lease) that refuses the put should it reach etcd
// afterwards; markers go with their session. Every key of a name, markers
// included, is under name + "/": a role granted that range suffices.
//
// Waiters never poll. Each opens a watch on the deletions under the name
// before it reads the line (register, then re-check), and reads again, in
// one transaction, only when the key directly ahead of it goes (the lock,
// the election) or any key ahead of it goes (the semaphore): no thundering
// herd of reads. Waiting costs one watch on the client's shared stream; a
// release costs one etcd write, and its deletion event reaches every waiter
// of that name. An uncontended acquisition is one round trip. A watch that
// loses history to a compaction (the etcd client resumes a watch from the
// last revision it saw after reconnecting) is opened again from the current
// revision and the waiter reads again: it keeps its place.
//
// Read the package dist documentation for why a distributed lock is a lease
// and how the protected resource must use the fencing token.
package etcd
