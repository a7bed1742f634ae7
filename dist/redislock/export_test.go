package redislock

import "time"

// Freeze stops l's refresh without releasing anything, as a process that
// is paused (GC, swap) or cut off would: its key expires after the TTL.
func Freeze(l *Lock) { l.stopRefresh() }

// Acquired returns when l's acquiring script was sent, from which its
// validity is measured.
func Acquired(l *Lock) time.Time { return l.acquired }

// TTL returns the TTL m counts with, the one its scripts give Redis.
func TTL(m *Mutex) time.Duration { return m.ttl }
