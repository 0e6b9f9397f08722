package mail

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		locale string
		d      time.Duration
		want   string
	}{
		{"en", time.Hour, "1 hour"},
		{"en", 24 * time.Hour, "24 hours"},
		{"en", 10 * time.Minute, "10 minutes"},
		{"en", time.Minute, "1 minute"},
		{"en", 90 * time.Minute, "1 hour and 30 minutes"},
		{"en", 72 * time.Hour, "3 days"},
		{"en", 30 * time.Second, "1 minute"},
		{"en", 0, "0 minutes"},
		{"fr", time.Hour, "1 heure"},
		{"fr", 24 * time.Hour, "24 heures"},
		{"fr", 10 * time.Minute, "10 minutes"},
		{"fr", 61 * time.Minute, "1 heure et 1 minute"},
		{"fr", 7 * 24 * time.Hour, "7 jours"},
		{"fr", 0, "0 minute"},
		{"de", time.Hour, "1 Stunde"},
		{"de", 24 * time.Hour, "24 Stunden"},
		{"de", 15 * time.Minute, "15 Minuten"},
		{"de", 150 * time.Minute, "2 Stunden und 30 Minuten"},
		{"de", 48 * time.Hour, "2 Tage"},
		{"es", 2 * time.Hour, "2 hours"}, // no words of its own: English
	}
	for _, tt := range tests {
		if got := formatDuration(tt.locale, tt.d); got != tt.want {
			t.Errorf("formatDuration(%q, %s) = %q, want %q", tt.locale, tt.d, got, tt.want)
		}
	}
}
