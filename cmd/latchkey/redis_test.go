package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/proc"
	"github.com/latchkey/latchkey/store/redisctr"
)

func TestRedisConfig(t *testing.T) {
	_, cfg, err := parseServe(t, nil)
	if err != nil || cfg.RedisURL != "" || cfg.RedisPrefix != redisctr.DefaultPrefix {
		t.Fatalf("defaults: url %q prefix %q err %v", cfg.RedisURL, cfg.RedisPrefix, err)
	}
	// The URL may hold a password, so it is a secret: *_FILE works, and errors never repeat it.
	file := filepath.Join(t.TempDir(), "redis-url")
	if err := os.WriteFile(file, []byte("redis://:pw-s3cr3t@cache.internal:6380/2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, cfg, err = parseServe(t, map[string]string{"LATCHKEY_REDIS_URL_FILE": file, "LATCHKEY_REDIS_PREFIX": "auth:"})
	if err != nil || cfg.RedisURL != "redis://:pw-s3cr3t@cache.internal:6380/2" || cfg.RedisPrefix != "auth:" {
		t.Fatalf("from env: url %q prefix %q err %v", cfg.RedisURL, cfg.RedisPrefix, err)
	}
	for _, bad := range []string{"http://:pw-s3cr3t@cache", "redis://:pw-s3cr3t@cache/0?no_such_option=1"} {
		_, _, err = parseServe(t, map[string]string{"LATCHKEY_REDIS_URL": bad})
		if err == nil || !strings.Contains(err.Error(), "redis-url / LATCHKEY_REDIS_URL") || strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("bad URL %q: %v", bad, err)
		}
	}
	_, _, err = parseServe(t, map[string]string{"LATCHKEY_REDIS_PREFIX": "has space"})
	if err == nil || !strings.Contains(err.Error(), "redis-prefix") {
		t.Fatalf("bad prefix: %v", err)
	}
}

// TestServeRefusesUnreachableRedis: a configured Redis that does not answer stops the start with
// a message that names it (without its password), instead of failing limited requests later.
func TestServeRefusesUnreachableRedis(t *testing.T) {
	t.Chdir(t.TempDir())
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"latchkey", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", addr),
		"--redis-url", fmt.Sprintf("redis://:pw-s3cr3t@127.0.0.1:%d/0", port), "--log-level", "error"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("redis at redis://:xxxxx@127.0.0.1:%d/0 does not answer", port)) ||
		strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("serve with Redis down: %v", err)
	}
}
