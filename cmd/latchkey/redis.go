package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/redisctr"
)

// redisFlags are the settings of the optional Redis that holds the rate-limit counters.
func (c *config) redisFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis-url", Destination: &c.RedisURL, Sources: c.env(true, "LATCHKEY_REDIS_URL"),
			Usage: "redis://[user:password@]host:port/db (rediss:// for TLS): keep rate-limit counters there instead of the database; empty: the database"},
		&cli.StringFlag{Name: "redis-prefix", Value: redisctr.DefaultPrefix, Destination: &c.RedisPrefix, Sources: c.env(false, "LATCHKEY_REDIS_PREFIX"),
			Usage: "start of every Redis key Latchkey writes"},
	}
}

// validateRedis checks the Redis settings; it never echoes the URL, which may hold a password.
func (c *config) validateRedis(bad func(name, env, why string)) {
	if c.RedisURL != "" {
		if _, err := redisctr.ParseURL(c.RedisURL); err != nil {
			bad("redis-url", "LATCHKEY_REDIS_URL", err.Error())
		}
	}
	if strings.ContainsAny(c.RedisPrefix, " \t\r\n") || len(c.RedisPrefix) > 64 {
		bad("redis-prefix", "LATCHKEY_REDIS_PREFIX", "must have no spaces and at most 64 characters")
	}
}

// counter is where the rate-limit counters live: Redis when a URL is set (the database counts
// while it is down), else nil, which leaves them in the database. close releases it.
func (c *config) counter(ctx context.Context, st *store.Store, log *slog.Logger) (ctr store.Counter, close func(), err error) {
	if c.RedisURL == "" {
		return nil, func() {}, nil
	}
	redis.SetLogger(redisctr.Logger{Log: log})
	rc, err := redisctr.Open(ctx, redisctr.Options{URL: c.RedisURL, Prefix: c.RedisPrefix, Fallback: st, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	log.Info("rate-limit counters in redis", "redis", redisctr.Redacted(c.RedisURL), "prefix", c.RedisPrefix)
	return rc, func() { _ = rc.Close() }, nil
}
