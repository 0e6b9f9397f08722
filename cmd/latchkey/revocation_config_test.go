package main

import (
	"strings"
	"testing"
	"time"
)

// TestRevocationConfig: the revocation bound defaults to 250ms (0 turns the session cache off),
// the cache's size and the listener's URL reach the store, and out-of-range values are refused
// with the setting named.
func TestRevocationConfig(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     map[string]string
		bound   time.Duration
		entries int
		listen  string
	}{
		{"default", nil, 250 * time.Millisecond, 20000, ""},
		{"off", map[string]string{"LATCHKEY_REVOCATION_BOUND": "0"}, 0, 20000, ""},
		{"set", map[string]string{"LATCHKEY_REVOCATION_BOUND": "1s", "LATCHKEY_SESSION_CACHE_ENTRIES": "500",
			"LATCHKEY_REVOCATION_LISTEN_URL": "postgres://direct.example/db"}, time.Second, 500, "postgres://direct.example/db"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, cfg, err := parseServe(t, c.env)
			if err != nil {
				t.Fatal(err)
			}
			o := cfg.storeOptions(nil)
			if o.RevocationBound != c.bound || o.SessionCacheEntries != c.entries || o.ListenURL != c.listen {
				t.Errorf("store options %v %d %q, want %v %d %q", o.RevocationBound, o.SessionCacheEntries, o.ListenURL, c.bound, c.entries, c.listen)
			}
		})
	}
	for _, c := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"LATCHKEY_REVOCATION_BOUND": "5ms"}, "revocation-bound"},
		{map[string]string{"LATCHKEY_REVOCATION_BOUND": "-1s"}, "revocation-bound"},
		{map[string]string{"LATCHKEY_REVOCATION_BOUND": "1m"}, "revocation-bound"},
		{map[string]string{"LATCHKEY_SESSION_CACHE_ENTRIES": "-1"}, "session-cache-entries"},
		{map[string]string{"LATCHKEY_REVOCATION_LISTEN_URL": "mysql://x"}, "revocation-listen-url"},
	} {
		if _, _, err := parseServe(t, c.env); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.name)
		}
	}
}
