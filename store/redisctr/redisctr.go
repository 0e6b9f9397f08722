// Package redisctr keeps the rate-limit counters (store.Counter) in Redis instead of the
// database: one atomic round trip per hit, keys that expire by themselves, and, while Redis does
// not answer, the database counters standing in so that limits keep holding and requests keep
// being served.
package redisctr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/store"
)

// DefaultPrefix starts every key Latchkey writes, so one Redis can serve other programs too.
const DefaultPrefix = "latchkey:"

// expiryGrace keeps a window's key a little past the window's end: instances whose clocks run
// a few seconds behind still count into the same window instead of starting it again.
const expiryGrace = 5 * time.Second

// defaultRetry is how long hits go to the fallback after Redis failed, before one hit tries
// Redis again.
const defaultRetry = 5 * time.Second

// stillDownEvery is how often a lasting outage is logged again.
const stillDownEvery = time.Minute

// Options configures a Counter.
type Options struct {
	URL    string // redis://[user:password@]host:port/db, rediss://… (TLS) or unix://…
	Prefix string // starts every key, as is (configuration defaults it to DefaultPrefix)
	// Fallback counts while Redis does not answer (the database); nil makes a Redis failure the
	// hit's error.
	Fallback store.Counter
	Logger   *slog.Logger
	// Retry is how long after a failure hits go to Fallback before Redis is tried again (5s).
	Retry time.Duration
	// Now is the clock of the outage bookkeeping (not of the windows: Hit is given its time).
	Now func() time.Time
}

// Counter is store.Counter over Redis. Each window of each key is its own Redis key,
// prefix + "rl:" + key + ":" + window start, counted by INCR and expiring shortly after its
// window ends (PEXPIRE), both in one MULTI/EXEC: one round trip, atomic, and nothing to purge.
type Counter struct {
	rdb      *redis.Client
	prefix   string
	fallback store.Counter
	log      *slog.Logger
	retry    time.Duration
	now      func() time.Time

	mu        sync.Mutex
	down      bool      // Redis failed and has not answered since
	downSince time.Time // when it first failed
	probeAt   time.Time // while down: when the next hit may try Redis again
	loggedAt  time.Time // while down: when the outage was last logged
}

var _ store.Counter = (*Counter)(nil)

// ParseURL checks a Redis URL and returns its client options. Its error never repeats the URL,
// which may hold a password.
func ParseURL(raw string) (*redis.Options, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, errors.New("must be a redis://, rediss:// or unix:// URL with valid options")
	}
	return o, nil
}

// Redacted is the URL with its password replaced, for messages.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// ClientOptions are the client options of a Redis URL, tuned for a counter on the request path:
// fail fast and let the fallback count, rather than hold requests through go-redis's generous
// defaults (5s timeouts, 3 retries, 5 dials). Options given in the URL's query win.
func ClientOptions(raw string) (*redis.Options, error) {
	ro, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if ro.DialTimeout == 0 {
		ro.DialTimeout = time.Second
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = 500 * time.Millisecond
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = 500 * time.Millisecond
	}
	if ro.PoolTimeout == 0 {
		ro.PoolTimeout = time.Second
	}
	if ro.MaxRetries == 0 {
		ro.MaxRetries = 1 // one retry covers a pooled connection that a Redis restart closed
	}
	if ro.DialerRetries == 0 {
		ro.DialerRetries = 1
	}
	return ro, nil
}

// Open connects to Redis and checks that it answers: a wrong address or password fails at
// start, with a clear message, rather than at the first limited request.
func Open(ctx context.Context, o Options) (*Counter, error) {
	ro, err := ClientOptions(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %w", err)
	}
	c := New(redis.NewClient(ro), o)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.rdb.Ping(pctx).Err(); err != nil {
		_ = c.rdb.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", Redacted(o.URL), err)
	}
	return c, nil
}

// New wraps a client the caller configured (tests, or a client shared with other uses). The
// Counter owns it: Close closes it.
func New(rdb *redis.Client, o Options) *Counter {
	c := &Counter{rdb: rdb, prefix: o.Prefix, fallback: o.Fallback, log: o.Logger, retry: o.Retry, now: o.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.retry <= 0 {
		c.retry = defaultRetry
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Close closes the Redis client.
func (c *Counter) Close() error { return c.rdb.Close() }

// Key is the Redis key of key's window that starts at start (Unix seconds).
func (c *Counter) Key(key string, start int64) string {
	return c.prefix + "rl:" + key + ":" + strconv.FormatInt(start, 10)
}

// Hit counts one hit on key in the fixed window of length window that holds now, exactly as
// the database counter does: windows are whole seconds aligned to the Unix epoch, and the
// answer is the hits in this window so far, this one included, and the window's end.
func (c *Counter) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Time, error) {
	secs := max(int64(window/time.Second), 1)
	start := now.Unix() / secs * secs
	end := time.Unix(start+secs, 0).UTC()
	if c.tryRedis() {
		n, err := c.incr(ctx, c.Key(key, start), end.Sub(now)+expiryGrace)
		if err == nil {
			c.up()
			return n, end, nil
		}
		if ctx.Err() != nil || c.fallback == nil {
			// The caller gave up (not an outage), or nothing can stand in.
			return 0, time.Time{}, fmt.Errorf("count %s in redis: %w", key, err)
		}
		c.fail(err)
	}
	return c.fallback.Hit(ctx, key, window, now)
}

// incr is INCR and PEXPIRE in one MULTI/EXEC. Setting the expiry on every hit is idempotent
// (every instance computes the same end) and needs no script, so Redis-compatible services that
// forbid Lua work too.
func (c *Counter) incr(ctx context.Context, k string, ttl time.Duration) (int64, error) {
	var n *redis.IntCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		p.PExpire(ctx, k, ttl)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n.Val(), nil
}

// tryRedis reports whether this hit goes to Redis: always while it answers; during an outage,
// one hit per retry interval probes it and the others go straight to the fallback, so an
// unreachable Redis costs one request a timeout, not every request.
func (c *Counter) tryRedis() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down || c.fallback == nil {
		return true
	}
	now := c.now()
	if now.Before(c.probeAt) {
		return false
	}
	c.probeAt = now.Add(c.retry)
	return true
}

// fail records a failed Redis call: the first one of an outage is logged at error level (limits
// now count in the database), a lasting outage again every minute.
func (c *Counter) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.probeAt = now.Add(c.retry)
	if !c.down {
		c.down, c.downSince, c.loggedAt = true, now, now
		c.log.Error("redis does not answer: rate-limit counters fall back to the database until it does", "error", err)
		return
	}
	if now.Sub(c.loggedAt) >= stillDownEvery {
		c.loggedAt = now
		c.log.Error("redis still does not answer: rate-limit counters are in the database", "since", c.downSince, "error", err)
	}
}

// up records a Redis call that worked, ending an outage.
func (c *Counter) up() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		c.down = false
		c.log.Warn("redis answers again: rate-limit counters are back in redis", "outage", c.now().Sub(c.downSince).Round(time.Millisecond))
	}
}

// Down reports whether the counter is in an outage (hits go to the fallback).
func (c *Counter) Down() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

// Ready reports Redis for /readyz. With a fallback the instance stays ready when Redis does not
// answer: limits still hold (in the database), and failing readiness would take every instance
// out of the load balancer at once for an optional dependency.
func (c *Counter) Ready(ctx context.Context) (name, status string, ok bool) {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		if c.fallback != nil {
			return "redis", "unreachable; counting in the database", true
		}
		return "redis", "unreachable", false
	}
	c.up()
	return "redis", "ok", true
}

// Logger carries go-redis's own messages (its pool's reconnection attempts, once a second during
// an outage) into the process log at debug level: the Counter reports outages itself, once.
type Logger struct{ Log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l Logger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
