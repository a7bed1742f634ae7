package spin

// TicketState returns the next ticket and the ticket being served.
func TicketState(l *TicketLock) (next, serving uint32) { return unpackTicket(l.state.Load()) }

// SetTicketState starts l at a given state, for tests that cross the 2^32
// wraparound. l must be unused.
func SetTicketState(l *TicketLock, next, serving uint32) {
	l.state.Store(uint64(next)<<ticketShift | uint64(serving))
}
