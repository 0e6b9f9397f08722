package server

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/google/uuid"
)

// verifiedTokens remembers access tokens whose signature Latchkey has checked, so a client that
// sends the same token on every request costs one signature verification per token, not per
// request. An entry answers only while the token is unexpired and the key that signed it still
// verifies; the session behind it is checked on every request regardless (by the store, from its
// session cache within the revocation bound, else in the database).
//
// Two generations bound the memory: when the current one fills, it becomes the previous one and
// the oldest generation is dropped. A generation grows as tokens arrive instead of being made at
// its full size: its entries hold pointers (the kid, the expiry's location), so the collector
// scans all of its memory, empty slots included, in every cycle. Made at 8192 entries it was a
// quarter of an idle server's heap, and a sign-in burst, which collects a dozen times a second for
// the hashes' 19 MiB each, paid for scanning it every time.
type verifiedTokens struct {
	mu        sync.Mutex
	cur, prev map[[32]byte]verifiedToken
	max       int
}

type verifiedToken struct {
	userID, sessionID uuid.UUID
	expires           time.Time
	kid               string
	elevated          bool // x-hasura-auth-elevated names the token's user
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{cur: map[[32]byte]verifiedToken{}, prev: map[[32]byte]verifiedToken{}, max: max}
}

func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

func (c *verifiedTokens) get(key [32]byte) (verifiedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[key]; ok {
		return v, true
	}
	v, ok := c.prev[key]
	if ok {
		c.putLocked(key, v)
	}
	return v, ok
}

func (c *verifiedTokens) put(key [32]byte, v verifiedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, v)
}

func (c *verifiedTokens) putLocked(key [32]byte, v verifiedToken) {
	if len(c.cur) >= c.max {
		c.prev, c.cur = c.cur, map[[32]byte]verifiedToken{}
	}
	c.cur[key] = v
}
