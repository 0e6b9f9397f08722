package server

import (
	"testing"
	"time"
)

// TestWithDefaultsCodeGuessLimit: a Config built without DefaultConfig (a program embedding the
// server) gets the default cap on code guesses, not none; a cap turned off stays off, and a
// configured one stays as configured.
func TestWithDefaultsCodeGuessLimit(t *testing.T) {
	def := DefaultConfig().CodeGuessLimit
	if got := (Config{}).withDefaults().CodeGuessLimit; got != def {
		t.Errorf("CodeGuessLimit of an empty Config = %v, want the default %v", got, def)
	}
	for _, l := range []RateLimit{RateLimitOff, {Requests: 5, Window: time.Minute}} {
		if got := (Config{CodeGuessLimit: l}).withDefaults().CodeGuessLimit; got != l {
			t.Errorf("CodeGuessLimit %v became %v", l, got)
		}
	}
}
