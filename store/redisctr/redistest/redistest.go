// Package redistest finds the Redis the tests use and hands each test a key prefix of its own.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the Redis tests use: LATCHKEY_TEST_REDIS_URL, or the local one.
func URL() string {
	if u := os.Getenv("LATCHKEY_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var (
	once    sync.Once
	pingErr error
)

// Require skips the test when Redis does not answer, or fails it when
// LATCHKEY_TEST_REQUIRE_REDIS=1 (CI), so a missing Redis is never a silent pass there. It
// returns the URL.
func Require(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		o, err := redis.ParseURL(URL())
		if err != nil {
			pingErr = err
			return
		}
		rdb := redis.NewClient(o)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pingErr = rdb.Ping(ctx).Err()
	})
	if pingErr != nil {
		if os.Getenv("LATCHKEY_TEST_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis at %s is required (LATCHKEY_TEST_REQUIRE_REDIS=1) but does not answer: %v", URL(), pingErr)
		}
		t.Skipf("SKIPPED: Redis at %s does not answer: %v", URL(), pingErr)
	}
	return URL()
}

// Prefix is a key prefix no other test uses; its keys are deleted at cleanup.
func Prefix(t testing.TB) string {
	t.Helper()
	url := Require(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "latchkey-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		o, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		rdb := redis.NewClient(o)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// Client is a plain client of the test Redis, closed at cleanup, for looking at keys.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(Require(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
