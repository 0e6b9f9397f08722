package store

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckEmail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"ada@example.com", nil},
		{"Ada.Lovelace+tag@Example.COM", nil},
		{"zoë@müller.de", nil},
		{"Zoë@Müller.de", nil},      // ASCII capitals are fine anywhere
		{"ceo@i\u0307bm.com", nil},  // what IDNA makes of İbm.com: its own domain, xn--ibm-8dc.com
		{"a@xn--mller-kva.de", nil}, // an A-label is plain ASCII
		{"a@straße.de", nil},        // IDNA2008 keeps ß
		{"ceo@İbm.com", ErrEmailNotCanonical},
		{"ceo@\u212Abm.com", ErrEmailNotCanonical},
		{"\u212Aate@ibm.com", ErrEmailNotCanonical},
		{"ZOË@example.com", ErrEmailNotCanonical},
		{"\u01c5ungla@example.com", ErrEmailNotCanonical},
		{"zoe\u0308@example.com", ErrEmailNotCanonical},
		{"ceo@ｉｂｍ.com", ErrEmailNotCanonical},
		{"ceo@MÜLLER.de", ErrEmailNotCanonical},
		{"a@b\u200d.com", ErrEmailDomain}, // a joiner where IDNA allows none
		{" ada@example.com", ErrEmailInvalid},
		{"Ada <ada@example.com>", ErrEmailInvalid},
		{"not-an-address", ErrEmailInvalid},
		{"", ErrEmailInvalid},
		{"a@" + strings.Repeat("b", 250) + ".com", ErrEmailTooLong},
	} {
		if got := CheckEmail(tc.in); !errors.Is(got, tc.want) {
			t.Errorf("CheckEmail(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzEmailRule holds the rule's promise: an address CheckEmail accepts has no character that
// full Unicode lower-casing would change other than ASCII letters, so its key is what any
// case-insensitive comparison would make of it (and what the key was before the rule), and the
// key itself is accepted and is its own key.
func FuzzEmailRule(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Zoë@Müller.de", "ceo@İbm.com", "a@xn--mller-kva.de", "\u212Aate@ibm.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckEmail(s) != nil {
			return
		}
		key := NormalizeEmail(s)
		if lower := strings.ToLower(s); lower != key {
			t.Fatalf("CheckEmail accepted %q, whose key %q is not its lower case %q", s, key, lower)
		}
		if err := CheckEmail(key); err != nil {
			t.Fatalf("CheckEmail accepted %q but refuses its key %q: %v", s, key, err)
		}
		if NormalizeEmail(key) != key || !utf8.ValidString(key) {
			t.Fatalf("key of %q is %q, whose own key differs", s, key)
		}
	})
}
