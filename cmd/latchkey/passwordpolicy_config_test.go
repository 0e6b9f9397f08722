package main

import (
	"strings"
	"testing"
	"time"
)

// TestPasswordPolicyConfig: the password-policy and breach-check settings have the server's
// defaults, are read from the environment (including Nhost's AUTH_PASSWORD_HIBP_ENABLED) and
// are validated with messages that name them.
func TestPasswordPolicyConfig(t *testing.T) {
	got, _, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordMaxLength != 256 || got.PasswordMaxBytes != 1024 || got.PasswordMinBytes != 0 || got.HIBPEnabled ||
		got.HIBPBaseURL != "https://api.pwnedpasswords.com" || got.HIBPTimeout != 2*time.Second || got.HIBPFailClosed || got.HIBPMinCount != 1 {
		t.Errorf("defaults: %+v", got)
	}
	got, _, err = parseServe(t, map[string]string{
		"AUTH_PASSWORD_HIBP_ENABLED":   "true",
		"LATCHKEY_HIBP_BASE_URL":       "http://127.0.0.1:9999/hibp",
		"LATCHKEY_HIBP_TIMEOUT":        "500ms",
		"LATCHKEY_HIBP_FAIL_CLOSED":    "true",
		"LATCHKEY_HIBP_MIN_COUNT":      "10",
		"LATCHKEY_PASSWORD_MAX_LENGTH": "64",
		"LATCHKEY_PASSWORD_MIN_BYTES":  "12",
		"LATCHKEY_PASSWORD_MAX_BYTES":  "256",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.HIBPEnabled || got.HIBPBaseURL != "http://127.0.0.1:9999/hibp" || got.HIBPTimeout != 500*time.Millisecond ||
		!got.HIBPFailClosed || got.HIBPMinCount != 10 || got.PasswordMaxLength != 64 || got.PasswordMinBytes != 12 || got.PasswordMaxBytes != 256 {
		t.Errorf("settings not applied: %+v", got)
	}
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"max below min":        {map[string]string{"LATCHKEY_PASSWORD_MAX_LENGTH": "5"}, "password-max-length"},
		"max bytes unbounded":  {map[string]string{"LATCHKEY_PASSWORD_MAX_BYTES": "1000000"}, "password-max-bytes"},
		"min bytes over max":   {map[string]string{"LATCHKEY_PASSWORD_MIN_BYTES": "2000"}, "password-min-bytes"},
		"base URL not HTTP":    {map[string]string{"LATCHKEY_HIBP_BASE_URL": "ftp://example.com"}, "hibp-base-url"},
		"base URL with query":  {map[string]string{"LATCHKEY_HIBP_BASE_URL": "https://example.com/?k=1"}, "hibp-base-url"},
		"no timeout":           {map[string]string{"LATCHKEY_HIBP_TIMEOUT": "0s"}, "hibp-timeout"},
		"min count of nothing": {map[string]string{"LATCHKEY_HIBP_MIN_COUNT": "0"}, "hibp-min-count"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseServe(t, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one naming %q", err, c.want)
			}
		})
	}
}
