package redislock

// Freeze stops l's refresh without releasing anything, as a process that
// is paused (GC, swap) or cut off would: its key expires after the TTL.
func Freeze(l *Lock) { l.stopRefresh() }
