package main

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server"
)

// TestHashQueueTimeoutConfig: the hashing queue's deadline has the server's default, is read
// from the environment, may be 0 (no deadline), and may not be negative.
func TestHashQueueTimeoutConfig(t *testing.T) {
	for env, want := range map[string]time.Duration{"": server.DefaultHashQueueTimeout, "750ms": 750 * time.Millisecond, "0": 0} {
		t.Run(env, func(t *testing.T) { // a subtest, so each Setenv ends with it
			vars := map[string]string{}
			if env != "" {
				vars["LATCHKEY_HASH_QUEUE_TIMEOUT"] = env
			}
			got, _, err := parseServe(t, vars)
			if err != nil {
				t.Fatal(err)
			}
			if got.HashQueueTimeout != want {
				t.Errorf("LATCHKEY_HASH_QUEUE_TIMEOUT=%q: %v, want %v", env, got.HashQueueTimeout, want)
			}
		})
	}
	if _, _, err := parseServe(t, map[string]string{"LATCHKEY_HASH_QUEUE_TIMEOUT": "-1s"}); err == nil || !strings.Contains(err.Error(), "hash-queue-timeout") {
		t.Fatalf("negative deadline: %v, want an error naming hash-queue-timeout", err)
	}
}
