package server

import "time"

// HoldHashSlots takes every password-hashing slot of s, as hashes in progress would, and makes
// the queue's estimate say one hash takes exactly perHash, until release is called. HTTP tests
// (package server_test) use it to put the hashing queue in a known state without timing.
func HoldHashSlots(s *Server, perHash time.Duration) (release func()) {
	p := s.passwords
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	p.queue.set(perHash, 0)
	return func() {
		for range cap(p.slots) {
			<-p.slots
		}
	}
}

// Conceals reports whether s runs in conceal mode, for test helpers whose flow depends on it.
func Conceals(s *Server) bool { return s.cfg.ConcealErrors }
