package main

import (
	"strings"
	"testing"
	"time"

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

// TestCodeGuessLimitConfig: the cap on code guesses defaults to the server's, is read from the
// environment as N/window, may be off, and refuses anything else.
func TestCodeGuessLimitConfig(t *testing.T) {
	def := server.DefaultConfig().CodeGuessLimit
	for env, want := range map[string]server.RateLimit{"": def, "5/10m": {Requests: 5, Window: 10 * time.Minute}, "off": server.RateLimitOff, "0": server.RateLimitOff} {
		t.Run("env="+env, func(t *testing.T) {
			vars := map[string]string{}
			if env != "" {
				vars["LATCHKEY_CODE_GUESS_LIMIT"] = env
			}
			got, _, err := parseServe(t, vars)
			if err != nil {
				t.Fatal(err)
			}
			if got.CodeGuessLimit != want {
				t.Errorf("LATCHKEY_CODE_GUESS_LIMIT=%q: %v, want %v", env, got.CodeGuessLimit, want)
			}
		})
	}
	for _, v := range []string{"20", "20/0s", "x/1h", "-1/1h"} {
		if _, _, err := parseServe(t, map[string]string{"LATCHKEY_CODE_GUESS_LIMIT": v}); err == nil || !strings.Contains(err.Error(), "code-guess-limit") {
			t.Errorf("LATCHKEY_CODE_GUESS_LIMIT=%s: %v, want an error naming code-guess-limit", v, err)
		}
	}
}

// TestRateLimitUsageNamesEveryGroup: every rate-limit group's flag says what it allows and per
// what; a group added to the server without a line here would print a bare ": N/window".
func TestRateLimitUsageNamesEveryGroup(t *testing.T) {
	for _, g := range server.LimitGroups {
		if limitGroupUsage[g] == "" {
			t.Errorf("rate-limit-%s: no usage text in limitGroupUsage", g)
		}
	}
}
