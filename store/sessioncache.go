package store

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The session cache answers LiveSessionUser from memory: the check behind every authenticated
// request, which otherwise costs a database round trip each. A revocation must still stop a
// session's tokens, so the cache holds on to a promise it can prove:
//
//   - On the instance that made a change, the entries it touched go as soon as the change commits
//     (Store.invalidate), so that instance never serves what it has itself ended.
//   - Everywhere else, an entry is served only under a lease: proof that every change committed
//     up to a moment at most Bound ago has been applied. On PostgreSQL, triggers send a
//     notification from every transaction that ends a session or changes a user
//     (migrations/postgres/00013), and each instance sends itself a heartbeat on the same channel
//     every few dozen milliseconds; notifications arrive in commit order, so receiving its own
//     heartbeat sent at t proves that every change committed before t has been applied. On
//     SQLite, a poll of the change counter the triggers keep proves the same of the moment the
//     poll began. A listener that is down, stalled or pointed where the notifications do not
//     arrive renews no lease, and requests go to the database: failure is slow, never unsafe.
//
// A fill reads the database and then inserts; a change applied in between (the epoch moved)
// drops the insert, so a read taken before a revocation never lands after its eviction.

// Cache defaults.
const (
	// DefaultSessionCacheEntries bounds the cache; see Options.SessionCacheEntries.
	DefaultSessionCacheEntries = 20_000
	// sessionRevalidate is how long an entry answers before it is read again regardless.
	sessionRevalidate = 30 * time.Second
	// maxHeartbeat is the longest gap between two heartbeats (or polls).
	maxHeartbeat = 50 * time.Millisecond
)

// sessionCache is one instance's cache of live sessions and their users.
type sessionCache struct {
	bound time.Duration
	max   int
	base  time.Time // the monotonic origin of lease

	mu      sync.RWMutex
	entries map[uuid.UUID]*cachedSession
	byUser  map[uuid.UUID]map[uuid.UUID]struct{}
	epoch   uint64

	// lease is when (monotonic nanoseconds since base) the latest proof was taken; 0: none.
	lease atomic.Int64

	hits, misses, fallbacks, invalidations, flushes atomic.Uint64
	state                                           atomic.Pointer[string]
	listenerPID                                     atomic.Uint32

	// stall is held while a notification or poll is applied; PauseSessionCache holds it too.
	stall sync.Mutex
}

type cachedSession struct {
	user    *User
	expires time.Time // the session's expires_at when read
	filled  time.Time // monotonic
}

// cacheKey names what a change touched: one session, every session of a user, or (every) any
// session at all, for writes that cannot cheaply tell which sessions they ended (a deleted API
// token's cascade).
type cacheKey struct {
	user, every bool
	id          uuid.UUID
}

// everyKey invalidates the whole cache.
var everyKey = cacheKey{every: true}

// sessionKey is the cache key of one session.
func sessionKey(id uuid.UUID) cacheKey { return cacheKey{id: id} }

// userKey is the cache key of every session of a user.
func userKey(id uuid.UUID) cacheKey { return cacheKey{user: true, id: id} }

func newSessionCache(bound time.Duration, max int) *sessionCache {
	if max <= 0 {
		max = DefaultSessionCacheEntries
	}
	c := &sessionCache{bound: bound, max: max, base: time.Now(), epoch: 1, // 0: "no fill may insert"
		entries: make(map[uuid.UUID]*cachedSession), byUser: make(map[uuid.UUID]map[uuid.UUID]struct{})}
	c.setState("starting")
	return c
}

// heartbeat is how often the lease is renewed: often enough that a few lost or late renewals
// still leave it fresh.
func (c *sessionCache) heartbeat() time.Duration {
	return min(maxHeartbeat, max(c.bound/5, time.Millisecond))
}

func (c *sessionCache) setState(s string) { c.state.Store(&s) }

func (c *sessionCache) mono(t time.Time) int64 {
	n := int64(t.Sub(c.base))
	if n <= 0 {
		n = 1
	}
	return n
}

// renew records a proof taken at t: every change committed before t has been applied.
func (c *sessionCache) renew(t time.Time) {
	n := c.mono(t)
	for {
		old := c.lease.Load()
		if n <= old || c.lease.CompareAndSwap(old, n) {
			return
		}
	}
}

// dropLease forgets every proof: nothing is served until the next one.
func (c *sessionCache) dropLease() { c.lease.Store(0) }

// leaseAge is how old the latest proof is; ok is false when there is none.
func (c *sessionCache) leaseAge() (time.Duration, bool) {
	l := c.lease.Load()
	if l == 0 {
		return 0, false
	}
	return time.Duration(c.mono(time.Now()) - l), true
}

func (c *sessionCache) fresh() bool {
	age, ok := c.leaseAge()
	return ok && age < c.bound
}

// get returns a copy of the cached user of a live session, and the epoch a fill on a miss must
// present to insert.
func (c *sessionCache) get(sid uuid.UUID, now time.Time) (*User, uint64, bool) {
	if !c.fresh() {
		c.fallbacks.Add(1)
		return nil, 0, false
	}
	c.mu.RLock()
	e, epoch := c.entries[sid], c.epoch
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) || time.Since(e.filled) >= sessionRevalidate {
		c.misses.Add(1)
		return nil, epoch, false
	}
	// The lease is checked again: it may have lapsed while the entry was looked up.
	if !c.fresh() {
		c.fallbacks.Add(1)
		return nil, 0, false
	}
	c.hits.Add(1)
	return copyUser(e.user), epoch, true
}

// put inserts what a fill read, unless a change was applied since the fill's epoch was taken or
// no lease is held (an entry then could not be served, and a listener that reconnects empties
// the cache anyway).
func (c *sessionCache) put(sid uuid.UUID, u *User, expires time.Time, epoch uint64) {
	if epoch == 0 || !c.fresh() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if old := c.entries[sid]; old != nil {
		c.unindexLocked(sid, old)
	} else if len(c.entries) >= c.max {
		for k, e := range c.entries { // the hard cap: make room by dropping any one entry
			c.unindexLocked(k, e)
			delete(c.entries, k)
			break
		}
	}
	c.entries[sid] = &cachedSession{user: copyUser(u), expires: expires, filled: time.Now()}
	set := c.byUser[u.ID]
	if set == nil {
		set = make(map[uuid.UUID]struct{}, 1)
		c.byUser[u.ID] = set
	}
	set[sid] = struct{}{}
}

func (c *sessionCache) unindexLocked(sid uuid.UUID, e *cachedSession) {
	if set := c.byUser[e.user.ID]; set != nil {
		delete(set, sid)
		if len(set) == 0 {
			delete(c.byUser, e.user.ID)
		}
	}
}

// invalidate drops the entries keys name and moves the epoch, so no fill in flight inserts.
func (c *sessionCache) invalidate(keys ...cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, k := range keys {
		c.invalidations.Add(1)
		if k.every {
			c.flushes.Add(1)
			clear(c.entries)
			clear(c.byUser)
			continue
		}
		if !k.user {
			if e := c.entries[k.id]; e != nil {
				c.unindexLocked(k.id, e)
				delete(c.entries, k.id)
			}
			continue
		}
		for sid := range c.byUser[k.id] {
			delete(c.entries, sid)
		}
		delete(c.byUser, k.id)
	}
}

// flush drops every entry and moves the epoch.
func (c *sessionCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.flushes.Add(1)
	clear(c.entries)
	clear(c.byUser)
}

func (c *sessionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// copyUser gives each caller its own user, as the database path does.
func copyUser(u *User) *User {
	cp := *u
	cp.Roles = append([]string(nil), u.Roles...)
	if len(u.Metadata) > 0 {
		cp.Metadata = maps.Clone(u.Metadata)
	}
	return &cp
}

// SessionCacheStats describes the session cache of a store, for metrics and readiness.
type SessionCacheStats struct {
	// Enabled is false when the revocation bound is 0 (or the store is inside a transaction).
	Enabled bool
	// Bound is the revocation bound the cache serves under.
	Bound time.Duration
	// Hits, Misses and Fallbacks count lookups answered from memory, read from the database for
	// want of an entry, and read from the database for want of a fresh lease.
	Hits, Misses, Fallbacks uint64
	// Invalidations counts the sessions and users invalidated; Flushes the times the whole cache
	// was emptied (a listener reconnecting, another SQLite process writing).
	Invalidations, Flushes uint64
	// Entries is how many sessions are cached now; MaxEntries the hard cap.
	Entries, MaxEntries int
	// LeaseAge is the age of the latest proof that every earlier change was applied; HasLease is
	// false when there is none.
	LeaseAge time.Duration
	HasLease bool
	// Listener is the state of what renews the lease: "listening" (PostgreSQL), "polling"
	// (SQLite), "down" (reconnecting; the log says why), "starting", or "off".
	Listener string
	// ListenerPID is the PostgreSQL backend of the listener's connection (0: none).
	ListenerPID uint32
}

// SessionCacheStats reports on the session cache.
func (s *Store) SessionCacheStats() SessionCacheStats {
	c := s.cache
	if c == nil {
		return SessionCacheStats{Listener: "off"}
	}
	age, ok := c.leaseAge()
	return SessionCacheStats{
		Enabled: true, Bound: c.bound,
		Hits: c.hits.Load(), Misses: c.misses.Load(), Fallbacks: c.fallbacks.Load(),
		Invalidations: c.invalidations.Load(), Flushes: c.flushes.Load(),
		Entries: c.len(), MaxEntries: c.max, LeaseAge: age, HasLease: ok,
		Listener: *c.state.Load(), ListenerPID: c.listenerPID.Load(),
	}
}
