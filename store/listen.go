package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// startSessionCache starts the session cache and what renews its lease: on PostgreSQL a
// listener on the invalidation channel and a heartbeat sender, on SQLite a poll of the change
// counter. A bound of 0 leaves the cache off.
func (s *Store) startSessionCache(opts Options) error {
	if opts.RevocationBound <= 0 {
		return nil
	}
	c := newSessionCache(opts.RevocationBound, opts.SessionCacheEntries)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cache, s.cacheStop = c, func() { cancel(); <-done }
	if s.dialect != Postgres {
		go func() { defer close(done); s.pollChanges(ctx, c) }()
		return nil
	}
	var schema string
	if err := s.pg.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		cancel()
		close(done)
		return fmt.Errorf("start session cache: %w", err)
	}
	listenURL := opts.ListenURL
	if listenURL == "" {
		listenURL = opts.URL
	}
	l := &listener{
		store: s, cache: c,
		listenURL: withConnectTimeout(listenURL), sendURL: withConnectTimeout(opts.URL),
		channel:  invalidationChannel(schema),
		instance: randomInstance(),
	}
	go func() { defer close(done); l.run(ctx) }()
	return nil
}

// invalidationChannel is the channel the triggers of schema notify on (an identifier: at most
// 63 bytes).
func invalidationChannel(schema string) string {
	ch := "latchkey_" + schema
	if len(ch) > 63 {
		ch = ch[:63]
	}
	return ch
}

func randomInstance() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PauseSessionCache stops the session cache's listener (or poll) from applying anything until
// resume is called, as a stalled process would: for tests and fault drills.
func (s *Store) PauseSessionCache() (resume func()) {
	if s.cache == nil {
		return func() {}
	}
	s.cache.stall.Lock()
	var once sync.Once
	return func() { once.Do(s.cache.stall.Unlock) }
}

// pollChanges is SQLite's lease: the triggers of migrations/sqlite/00013 count every committed
// change in session_cache_changes; a poll that starts at t and finds the count unchanged proves
// that nothing changed before t, and one that finds it moved empties the cache first. The
// process that made a change has dropped its entries already; the count is how another process
// writing the same file is noticed.
func (s *Store) pollChanges(ctx context.Context, c *sessionCache) {
	last := int64(-1)
	t := time.NewTicker(c.heartbeat())
	defer t.Stop()
	for {
		c.stall.Lock()
		started := time.Now()
		var n int64
		err := s.rdb.WithContext(ctx).Raw("SELECT n FROM session_cache_changes WHERE id = 1").Row().Scan(&n)
		switch {
		case err != nil:
			c.dropLease()
			c.setState("down")
		default:
			if n != last {
				c.flush()
				last = n
			}
			c.renew(started)
			c.setState("polling")
		}
		c.stall.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listener applies the invalidation notifications of one PostgreSQL schema to a cache, and
// renews its lease with heartbeats it sends itself on the same channel.
type listener struct {
	store              *Store
	cache              *sessionCache
	listenURL, sendURL string
	channel, instance  string
	beats              sentBeats
	warned             bool // an outage was logged and no lease was held since
}

// silenceLimit is how long the listener waits for any notification (its own heartbeats come
// every maxHeartbeat at most) before it takes its connection for dead and reconnects.
const silenceLimit = 5 * time.Second

// run listens until ctx ends, reconnecting whenever the connection fails. Notifications sent
// while no connection listens are lost, so every reconnection empties the cache, after LISTEN
// and before anything is served again.
func (l *listener) run(ctx context.Context) {
	backoff := 10 * time.Millisecond
	for {
		err := l.once(ctx)
		hadLease := l.cache.lease.Load() != 0
		l.cache.dropLease()
		l.cache.listenerPID.Store(0)
		if ctx.Err() != nil {
			return
		}
		l.cache.setState("down")
		// Once per outage: a listener that never hears its heartbeats (a pooler, a replica)
		// reconnects every silenceLimit, and would otherwise log each time.
		if hadLease || !l.warned {
			l.warned = true
			l.store.log.Warn("session cache listener lost; sessions are checked in the database until it is back",
				"error", redactURLError(err, l.listenURL).Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (l *listener) once(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, l.listenURL)
	if err != nil {
		return fmt.Errorf("connect listener: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l.cache.listenerPID.Store(conn.PgConn().PID())
	l.cache.flush()
	l.cache.setState("listening")
	hbCtx, stop := context.WithCancel(ctx)
	defer stop()
	go l.sendHeartbeats(hbCtx)
	for {
		// Heartbeats arrive every few dozen milliseconds: a connection silent for silenceLimit is
		// dead without knowing it (a silent partition), or hears nothing of this database.
		wctx, cancel := context.WithTimeout(ctx, silenceLimit)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return fmt.Errorf("no notification for %s", silenceLimit)
			}
			return err
		}
		l.cache.stall.Lock()
		l.apply(n.Payload)
		l.cache.stall.Unlock()
	}
}

// apply applies one notification: "s:<session id>", "u:<user id>", or a heartbeat
// "hb:<instance>:<sequence>".
func (l *listener) apply(payload string) {
	kind, rest, _ := strings.Cut(payload, ":")
	switch kind {
	case "s", "u":
		id, err := uuid.Parse(rest)
		if err != nil {
			l.cache.flush() // not ours to understand: forget everything rather than guess
			return
		}
		if kind == "s" {
			l.cache.invalidate(sessionKey(id))
		} else {
			l.cache.invalidate(userKey(id))
		}
	case "hb":
		inst, seq, _ := strings.Cut(rest, ":")
		if inst != l.instance {
			return
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return
		}
		if at, ok := l.beats.take(n); ok {
			l.cache.renew(at)
		}
	default:
		l.cache.flush()
	}
}

// sendHeartbeats notifies the channel with a numbered heartbeat every few dozen milliseconds, on
// a connection of its own to the database the triggers fire in (not the listener's address: a
// heartbeat must travel the way the invalidations do, or it proves nothing).
func (l *listener) sendHeartbeats(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(l.cache.heartbeat())
	defer t.Stop()
	var seq uint64
	for {
		if conn == nil {
			c, err := pgx.Connect(ctx, l.sendURL)
			if err == nil {
				conn = c
			}
		}
		if conn != nil {
			seq++
			l.beats.put(seq, time.Now()) // before the commit: every change committed earlier is ahead of it
			cctx, cancel := context.WithTimeout(ctx, l.cache.bound)
			_, err := conn.Exec(cctx, "SELECT pg_notify($1, $2)", l.channel, "hb:"+l.instance+":"+strconv.FormatUint(seq, 10))
			cancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sentBeats remembers when the latest heartbeats were sent.
type sentBeats struct {
	mu   sync.Mutex
	ring [256]struct {
		seq uint64
		at  time.Time
	}
}

func (b *sentBeats) put(seq uint64, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring[seq%uint64(len(b.ring))].seq, b.ring[seq%uint64(len(b.ring))].at = seq, at
}

func (b *sentBeats) take(seq uint64) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.ring[seq%uint64(len(b.ring))]
	return e.at, e.seq == seq
}
