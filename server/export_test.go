package server

import "time"

// HoldHashSlots takes every password-hashing slot of s, as hashes in progress would, and makes
// the queue's moving average say one hash takes perHash, until release is called. HTTP tests
// (package server_test) use it to put the hashing queue in a known state without timing.
func HoldHashSlots(s *Server, perHash time.Duration) (release func()) {
	p := s.passwords
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	p.queue.meanNs.Store(int64(perHash))
	return func() {
		for range cap(p.slots) {
			<-p.slots
		}
	}
}
