package redisctr_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/internal/proc"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/redisctr"
	"github.com/latchkey/latchkey/store/redisctr/redistest"
	"github.com/latchkey/latchkey/store/storetest"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestCounter runs the counter contract the database counter passes against Redis, with no
// fallback, so a Redis failure fails the test instead of being counted elsewhere.
func TestCounter(t *testing.T) {
	storetest.RunCounter(t, func(t *testing.T) store.Counter {
		return open(t, redisctr.Options{URL: redistest.Require(t), Prefix: redistest.Prefix(t)})
	})
}

func open(t *testing.T, o redisctr.Options) *redisctr.Counter {
	t.Helper()
	c, err := redisctr.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestKeysArePrefixedAndExpire: a window's key carries the prefix and the window start, and
// expires by itself a little after the window ends, whatever the clock the server runs on.
func TestKeysArePrefixedAndExpire(t *testing.T) {
	prefix := redistest.Prefix(t)
	c := open(t, redisctr.Options{URL: redistest.Require(t), Prefix: prefix})
	rdb := redistest.Client(t)
	ctx := context.Background()
	for _, now := range []time.Time{time.Unix(1_700_000_020, 0), time.Now()} {
		if _, _, err := c.Hit(ctx, "signin|ip:127.0.0.1", time.Minute, now); err != nil {
			t.Fatal(err)
		}
		start := now.Unix() / 60 * 60
		key := prefix + "rl:signin|ip:127.0.0.1:" + fmt.Sprint(start)
		if got := c.Key("signin|ip:127.0.0.1", start); got != key {
			t.Fatalf("Key = %q, want %q", got, key)
		}
		ttl, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		remaining := time.Unix(start+60, 0).Sub(now)
		if ttl <= 0 || ttl > remaining+5*time.Second {
			t.Fatalf("key %s: TTL %v, want in (0, %v]", key, ttl, remaining+5*time.Second)
		}
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys under the prefix: %v %v", keys, err)
	}
}

// TestOpenRefusesUnreachable: a Redis that does not answer fails Open with a message that names
// it without its password.
func TestOpenRefusesUnreachable(t *testing.T) {
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://:hunter2-secret@127.0.0.1:%d/0", port)
	_, err = redisctr.Open(context.Background(), redisctr.Options{URL: url})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", port)) || !strings.Contains(msg, "does not answer") || strings.Contains(msg, "hunter2") {
		t.Fatalf("Open error: %s", msg)
	}
	if _, err := redisctr.Open(context.Background(), redisctr.Options{URL: "http://:hunter2@example.com"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open of a non-Redis URL: %v", err)
	}
}

// TestOutageFallsBackToTheDatabase stops a Redis of its own in the middle: hits go on being
// counted, in the database, with one loud log line; only one hit per retry interval tries Redis;
// /readyz's check stays ready; when Redis is back the counters return to it.
func TestOutageFallsBackToTheDatabase(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	ro, err := redisctr.ClientOptions(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ro)
	var tries atomic.Int64
	rdb.AddHook(countPipelines{&tries})
	var logs syncBuffer
	clock := testdb.NewClock()
	db := testdb.Open(t, testdb.Options{})
	c := redisctr.New(rdb, redisctr.Options{
		Prefix: "lk:", Fallback: db, Retry: 5 * time.Second, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	t.Cleanup(func() { _ = c.Close() })
	now := time.Now()
	hit := func(want int64) {
		t.Helper()
		n, _, err := c.Hit(ctx, "ip:a", time.Hour, now)
		if err != nil || n != want {
			t.Fatalf("hit: %d %v, want %d", n, err, want)
		}
	}

	hit(1)
	hit(2)
	if n, err := rdb.Get(ctx, c.Key("ip:a", now.Unix()/3600*3600)).Int64(); err != nil || n != 2 {
		t.Fatalf("redis holds %d (%v), want 2", n, err)
	}
	if name, status, ok := c.Ready(ctx); name != "redis" || status != "ok" || !ok {
		t.Fatalf("ready: %s %s %v", name, status, ok)
	}

	srv.stop(t)
	hit(1) // the database's count of the window starts afresh: at most one allowance more
	if !c.Down() || strings.Count(logs.String(), "redis does not answer") != 1 {
		t.Fatalf("down = %v; log:\n%s", c.Down(), logs.String())
	}
	before := tries.Load()
	hit(2)
	hit(3)
	if n := tries.Load() - before; n != 0 {
		t.Fatalf("%d hits tried Redis within the retry interval", n)
	}
	if _, status, ok := c.Ready(ctx); status != "unreachable; counting in the database" || !ok {
		t.Fatalf("ready during the outage: %q %v", status, ok)
	}
	clock.Advance(5 * time.Second)
	hit(4) // the probe fails, the hit still counts
	if n := tries.Load() - before; n != 1 {
		t.Fatalf("after the retry interval %d hits tried Redis, want 1", n)
	}
	if strings.Count(logs.String(), "level=ERROR") != 1 {
		t.Fatalf("a lasting outage logged again within a minute:\n%s", logs.String())
	}
	clock.Advance(time.Minute)
	hit(5)
	if !strings.Contains(logs.String(), "redis still does not answer") {
		t.Fatalf("a lasting outage was not logged again after a minute:\n%s", logs.String())
	}

	srv.start(t)
	hit(6) // within the retry interval: still the database
	clock.Advance(5 * time.Second)
	hit(1) // Redis again (it restarted empty: nothing was saved)
	if c.Down() || !strings.Contains(logs.String(), "redis answers again") {
		t.Fatalf("down = %v after Redis came back; log:\n%s", c.Down(), logs.String())
	}
	hit(2)
}

// TestNoFallbackFails: without a fallback a Redis failure is the hit's error, and /readyz's
// check is not ready.
func TestNoFallbackFails(t *testing.T) {
	srv := startRedis(t)
	c := open(t, redisctr.Options{URL: srv.url, Prefix: "lk:"})
	srv.stop(t)
	if n, _, err := c.Hit(context.Background(), "ip:a", time.Minute, time.Now()); err == nil {
		t.Fatalf("hit with Redis stopped and no fallback: %d, no error", n)
	}
	if _, status, ok := c.Ready(context.Background()); status != "unreachable" || ok {
		t.Fatalf("ready: %q %v", status, ok)
	}
}

// redisServer is a redis-server of the test's own, on a free port, that it can stop and start.
type redisServer struct {
	port  int
	url   string
	dir   string
	child *proc.Child
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("LATCHKEY_TEST_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server is required (LATCHKEY_TEST_REQUIRE_REDIS=1) but not installed")
		}
		t.Skip("SKIPPED: redis-server is not installed")
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &redisServer{port: port, url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), dir: t.TempDir()}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *redisServer) start(t *testing.T) {
	t.Helper()
	bin, _ := exec.LookPath("redis-server")
	var err error
	s.child, err = proc.Start("redis-server", filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano())), os.Environ(),
		bin, "--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := redis.ParseURL(s.url)
	rdb := redis.NewClient(o)
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) || s.child.Exited() {
			t.Fatalf("redis-server on port %d did not answer; its log:\n%s", s.port, s.child.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func (s *redisServer) stop(t *testing.T) {
	t.Helper()
	if s.child != nil {
		if err := s.child.Stop(); err != nil {
			t.Error(err)
		}
	}
}

// countPipelines counts the MULTI/EXEC pipelines a client attempts.
type countPipelines struct{ n *atomic.Int64 }

func (countPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (countPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h countPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// syncBuffer is a log destination the test can read while the counter writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLeastPrivilege: the counter works as a Redis user allowed only keys under its prefix and
// INCR, PEXPIRE, MULTI, EXEC and PING (the ACL docs/deployment.md gives); go-redis copes with
// the connection commands it tries (HELLO, CLIENT SETINFO) being refused.
func TestLeastPrivilege(t *testing.T) {
	srv := startRedis(t)
	admin := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port)})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "latchkey", "on", ">counter-pw", "resetkeys", "~lk:*", "nocommands",
		"+incr", "+pexpire", "+multi", "+exec", "+ping").Err(); err != nil {
		t.Fatal(err)
	}
	c := open(t, redisctr.Options{URL: fmt.Sprintf("redis://latchkey:counter-pw@127.0.0.1:%d/0", srv.port), Prefix: "lk:"})
	for want := int64(1); want <= 2; want++ {
		if n, _, err := c.Hit(ctx, "ip:a", time.Minute, time.Now()); err != nil || n != want {
			t.Fatalf("hit as the restricted user: %d %v", n, err)
		}
	}
	if _, status, ok := c.Ready(ctx); status != "ok" || !ok {
		t.Fatalf("ready as the restricted user: %q", status)
	}
	// Outside its prefix it is refused: the ACL above is what restricts it, not the test's luck.
	other := redisctr.New(redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.port), Username: "latchkey", Password: "counter-pw"}),
		redisctr.Options{Prefix: "other:"})
	defer other.Close()
	if _, _, err := other.Hit(ctx, "ip:a", time.Minute, time.Now()); err == nil {
		t.Fatal("the restricted user counted outside its prefix")
	}
}
