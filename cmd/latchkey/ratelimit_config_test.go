package main

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server"
)

// TestRateLimitIPv6PrefixConfig: the IPv6 prefix the limits key on defaults to /64, is read from
// the environment, and must be a prefix length from 1 to 128.
func TestRateLimitIPv6PrefixConfig(t *testing.T) {
	for env, want := range map[string]int{"": server.DefaultIPv6Prefix, "48": 48, "128": 128, "1": 1} {
		t.Run("env="+env, func(t *testing.T) {
			vars := map[string]string{}
			if env != "" {
				vars["LATCHKEY_RATE_LIMIT_IPV6_PREFIX"] = env
			}
			got, _, err := parseServe(t, vars)
			if err != nil {
				t.Fatal(err)
			}
			if got.RateLimitIPv6Prefix != want {
				t.Errorf("LATCHKEY_RATE_LIMIT_IPV6_PREFIX=%q: %d, want %d", env, got.RateLimitIPv6Prefix, want)
			}
		})
	}
	for _, v := range []string{"0", "129", "-64"} {
		if _, _, err := parseServe(t, map[string]string{"LATCHKEY_RATE_LIMIT_IPV6_PREFIX": v}); err == nil || !strings.Contains(err.Error(), "rate-limit-ipv6-prefix") {
			t.Errorf("LATCHKEY_RATE_LIMIT_IPV6_PREFIX=%s: %v, want an error naming rate-limit-ipv6-prefix", v, err)
		}
	}
}
