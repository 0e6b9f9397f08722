package main

import (
	"strings"
	"testing"
	"time"
)

// TestClockSkewConfig: LATCHKEY_CLOCK_SKEW defaults to 30s, reaches the server's JWT settings, and
// is refused outside 0s..5m.
func TestClockSkewConfig(t *testing.T) {
	got, _, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.JWT.ClockSkew != 30*time.Second {
		t.Errorf("default clock skew %v, want 30s", got.JWT.ClockSkew)
	}
	got, _, err = parseServe(t, map[string]string{"LATCHKEY_CLOCK_SKEW": "0s"})
	if err != nil || got.JWT.ClockSkew != 0 {
		t.Errorf("LATCHKEY_CLOCK_SKEW=0s: %v, %v", got.JWT.ClockSkew, err)
	}
	got, _, err = parseServe(t, map[string]string{"LATCHKEY_CLOCK_SKEW": "1s"}, "--clock-skew", "2s")
	if err != nil || got.JWT.ClockSkew != 2*time.Second {
		t.Errorf("--clock-skew 2s over the env: %v, %v", got.JWT.ClockSkew, err)
	}
	for _, v := range []string{"-1s", "6m"} {
		_, _, err := parseServe(t, map[string]string{"LATCHKEY_CLOCK_SKEW": v})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_CLOCK_SKEW") {
			t.Errorf("LATCHKEY_CLOCK_SKEW=%s: %v, want an error naming the setting", v, err)
		}
	}
}

// TestRedirectGlobConfig: Nhost's `/**` form is accepted; glob syntax the rules do not honour is
// refused at start, naming the setting.
func TestRedirectGlobConfig(t *testing.T) {
	got, _, err := parseServe(t, map[string]string{"LATCHKEY_ALLOWED_REDIRECT_URLS": "http://localhost:3000/**,https://*.example.com/cb-*"})
	if err != nil || len(got.AllowedRedirectURLs) != 2 {
		t.Fatalf("glob rules: %v %v", got.AllowedRedirectURLs, err)
	}
	for _, bad := range []string{"http://localhost:3000/a**", "https://**.example.com", "http://localhost:3000/[ab]"} {
		_, _, err := parseServe(t, map[string]string{"LATCHKEY_ALLOWED_REDIRECT_URLS": bad})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_ALLOWED_REDIRECT_URLS") || !strings.Contains(err.Error(), bad) {
			t.Errorf("rule %s: %v, want an error naming the setting and the rule", bad, err)
		}
	}
}
