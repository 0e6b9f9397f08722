package server

import (
	"strings"
	"testing"
)

// TestPasswordPolicyCheck: bounds in characters and bytes, with odd Unicode.
func TestPasswordPolicyCheck(t *testing.T) {
	pp := passwordPolicy{minRunes: 4, maxRunes: 8, minBytes: 6, maxBytes: 16}
	for _, tc := range []struct {
		name, pw string
		want     Code
	}{
		{"empty", "", CodePasswordTooShort},
		{"4 ascii: enough characters, too few bytes", "abcd", CodePasswordTooShort},
		{"6 ascii", "abcdef", ""},
		{"3 three-byte runes: 9 bytes, too few characters", "日本語", CodePasswordTooShort},
		{"4 three-byte runes, 12 bytes", "日本語だ", ""},
		{"combining marks count as characters", "e\u0301e\u0301", ""},
		{"4 astral runes, 16 bytes", "🔑🔑🔑🔑", ""},
		{"5 astral runes, 20 bytes: too many bytes", "🔑🔑🔑🔑🔑", CodePasswordTooLong},
		{"9 ascii: too many characters", strings.Repeat("x", 9), CodePasswordTooLong},
		{"zero-width joiners count", "a\u200db\u200dc\u200d", ""},
		{"NUL bytes are characters", "\x00\x00\x00\x00\x00\x00", ""},
		{"invalid UTF-8 counts byte by byte", "\xff\xfe\xfd\xfc\xfb\xfa", ""},
		{"invalid UTF-8 over the bound", strings.Repeat("\xff", 9), CodePasswordTooLong},
		{"right-to-left override", "\u202eabcdef", ""},
	} {
		if got := pp.check(tc.pw); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A dialect's floor raises the minimum; the server's stays when higher.
	s := &Server{cfg: DefaultConfig()}
	if got := s.passwordPolicy(12).check("elevenchars"); got != CodePasswordTooShort {
		t.Errorf("floor 12: %q", got)
	}
	if got := s.passwordPolicy(3).check("eightchr"); got != CodePasswordTooShort {
		t.Errorf("server minimum 9 under a floor of 3: %q", got)
	}
	if got := s.passwordPolicy(0).check(strings.Repeat("ü", 257)); got != CodePasswordTooLong {
		t.Errorf("257 characters: %q", got)
	}
	if got := s.passwordPolicy(0).check(strings.Repeat("😀", 256)); got != "" {
		t.Errorf("256 characters of 4 bytes, 1024 bytes, on both bounds: %q", got)
	}
	s.cfg.PasswordMaxLength = 300
	if got := s.passwordPolicy(0).check(strings.Repeat("😀", 257)); got != CodePasswordTooLong {
		t.Errorf("257 characters of 4 bytes under a 300-character bound (over 1024 bytes): %q", got)
	}
	if got := s.passwordPolicy(0).check(strings.Repeat("ü", 256)); got != "" {
		t.Errorf("256 characters of 2 bytes: %q", got)
	}
}
