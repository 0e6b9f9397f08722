package server

import (
	"testing"
	"time"
)

// TestParseRateLimit covers the compact N/window syntax of LATCHKEY_RATE_LIMIT_<GROUP>.
func TestParseRateLimit(t *testing.T) {
	for in, want := range map[string]RateLimit{
		"10/1m":    {10, time.Minute},
		" 300/1h ": {300, time.Hour},
		"0":        RateLimitOff,
		"off":      RateLimitOff,
		"5/1m30s":  {5, 90 * time.Second},
		"1/1s":     {1, time.Second},
	} {
		got, err := ParseRateLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseRateLimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10", "x/1m", "-1/1m", "10/", "10/1ms", "10/abc"} {
		if _, err := ParseRateLimit(in); err == nil {
			t.Errorf("ParseRateLimit(%q) accepted", in)
		}
	}
	for _, l := range []RateLimit{DefaultRateLimits()[LimitSignIn], RateLimitOff} {
		if got, err := ParseRateLimit(l.String()); err != nil || got != l {
			t.Errorf("String does not round-trip: %v → %q → %v, %v", l, l.String(), got, err)
		}
	}
}
