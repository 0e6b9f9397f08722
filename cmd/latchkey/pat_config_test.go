package main

import (
	"strings"
	"testing"
	"time"
)

// TestConfigPATSettings: by default a reset revokes PATs and a PAT lives at most a year; both
// are set from the environment, and a maximum under an hour is refused at start.
func TestConfigPATSettings(t *testing.T) {
	got, _, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.KeepPATsOnReset || got.PATMaxTTL != 365*24*time.Hour {
		t.Errorf("defaults: keep PATs on reset %v, PAT max TTL %v; want false, 8760h", got.KeepPATsOnReset, got.PATMaxTTL)
	}
	got, _, err = parseServe(t, map[string]string{"LATCHKEY_RESET_REVOKES_PATS": "false", "LATCHKEY_PAT_MAX_TTL": "720h"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.KeepPATsOnReset || got.PATMaxTTL != 720*time.Hour {
		t.Errorf("from env: keep PATs on reset %v, PAT max TTL %v; want true, 720h", got.KeepPATsOnReset, got.PATMaxTTL)
	}
	got, _, err = parseServe(t, nil, "--reset-revokes-pats=false")
	if err != nil || !got.KeepPATsOnReset {
		t.Errorf("--reset-revokes-pats=false: keep PATs on reset %v, %v", got.KeepPATsOnReset, err)
	}
	if _, _, err := parseServe(t, map[string]string{"LATCHKEY_PAT_MAX_TTL": "10m"}); err == nil || !strings.Contains(err.Error(), "pat-max-ttl") {
		t.Errorf("a 10m maximum: %v, want an error naming pat-max-ttl", err)
	}
}
