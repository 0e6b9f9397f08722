package main

import (
	"os"
	"path/filepath"
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

// TestMetricsConfig: metrics get a loopback listener of their own by default and no secret;
// the settings are checked at start, the secret never echoed.
func TestMetricsConfig(t *testing.T) {
	got, cfg, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != "127.0.0.1:4001" || got.MetricsToken != "" {
		t.Errorf("defaults: metrics addr %q, token set %v; want 127.0.0.1:4001 and none", cfg.MetricsAddr, got.MetricsToken != "")
	}
	secret := strings.Repeat("m", 40)
	file := filepath.Join(t.TempDir(), "metrics-token")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, cfg, err = parseServe(t, map[string]string{"LATCHKEY_METRICS_ADDR": "off", "LATCHKEY_METRICS_TOKEN_FILE": file})
	if err != nil || cfg.MetricsAddr != "off" || got.MetricsToken != secret {
		t.Errorf("off and a token from a file: %q %v %v", cfg.MetricsAddr, got.MetricsToken == secret, err)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LATCHKEY_METRICS_ADDR": "4001"}, "LATCHKEY_METRICS_ADDR"},
		{map[string]string{"LATCHKEY_METRICS_ADDR": "127.0.0.1:http"}, "LATCHKEY_METRICS_ADDR"},
		{map[string]string{"LATCHKEY_METRICS_ADDR": "127.0.0.1:4000"}, "LATCHKEY_METRICS_ADDR"}, // the API's own
		{map[string]string{"LATCHKEY_METRICS_TOKEN": "short-s3cr3t"}, "LATCHKEY_METRICS_TOKEN"},
	} {
		_, _, err := parseServe(t, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%v: %v, want an error naming %s without the secret", c.env, err, c.want)
		}
	}
}
