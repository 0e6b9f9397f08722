package main

import (
	"strings"
	"testing"
	"time"
)

// TestEdgeConfig reads the trusted proxies, CORS and HSTS settings and refuses bad ones.
func TestEdgeConfig(t *testing.T) {
	def, _, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(def.TrustedProxies) != 0 || len(def.CORSOrigins) != 0 || def.CORSCredentials || def.HSTSMaxAge != 365*24*time.Hour {
		t.Errorf("edge defaults: %+v", def)
	}
	got, _, err := parseServe(t, map[string]string{
		"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.7",
		"LATCHKEY_CORS_ORIGINS":    "https://app.example.com,http://localhost:3000",
		"LATCHKEY_HSTS_MAX_AGE":    "1h",
	}, "--cors-credentials")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.TrustedProxies) != 2 || len(got.CORSOrigins) != 2 || !got.CORSCredentials || got.HSTSMaxAge != time.Hour {
		t.Errorf("edge settings not applied: %+v", got)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad proxy", map[string]string{"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "trusted-proxies"},
		{"bad origin", map[string]string{"LATCHKEY_CORS_ORIGINS": "https://app.example.com/path"}, "cors-origins"},
		{"star and more", map[string]string{"LATCHKEY_CORS_ORIGINS": "*,https://app.example.com"}, "cors-origins"},
		{"star with credentials", map[string]string{"LATCHKEY_CORS_ORIGINS": "*", "LATCHKEY_CORS_CREDENTIALS": "true"}, "cors-origins"},
		{"negative HSTS", map[string]string{"LATCHKEY_HSTS_MAX_AGE": "-1s"}, "hsts-max-age"},
		{"fractional HSTS", map[string]string{"LATCHKEY_HSTS_MAX_AGE": "1500ms"}, "hsts-max-age"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := parseServe(t, c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one naming %q", err, c.want)
			}
		})
	}
}
