package store

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
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

func TestCanonicalLegacyEmail(t *testing.T) {
	for _, tc := range []struct {
		stored, want string // want "" when the row must be isolated
	}{
		{"Åsa@x.se", "åsa@x.se"},
		{"ZOË@Example.org", "zoë@example.org"},
		{"Zoe\u0308@example.org", "zoë@example.org"},
		{" Élodie@example.fr ", "élodie@example.fr"},
		{"Bob@MÜLLER.DE", "bob@müller.de"},
		{"ZOË@xn--mller-kva.de", "zoë@xn--mller-kva.de"},
		{"\u01c5ungla@example.com", "\u01c6ungla@example.com"},
		{"\u212Bngstr\u00f6m@example.se", "ångström@example.se"}, // Ångström sign: Å by equivalence
		{"\u2126mega@example.gr", "ωmega@example.gr"},            // Ohm sign: Ω by equivalence
		{"ＡＤＡ@example.com", "ａｄａ@example.com"},                   // full-width in a local part is its own
		{"ceo@İbm.com", ""},                                      // İ lower-cases to the ASCII i
		{"İvan@example.com", ""},                                 // likewise in a local part
		{"ceo@\u212Abm.com", ""},                                 // the Kelvin sign is K
		{"\u212Aate@ibm.com", ""},                                // in a local part too
		{"boss@ｉｂｍ.com", ""},                                     // mail went to ibm.com, which lower case does not name
		{"hans@STRA\u1E9EE.de", ""},                              // mail went to strasse.de (IDNA), lower case names straße.de
		{"semi\u037E@example.com", ""},                           // the Greek question mark is ; by equivalence
		{"Zoë@M\xffller.de", ""},                                 // not UTF-8
		{"ZOË <zoë@example.org>", ""},                            // not a bare address
	} {
		got, ok := canonicalLegacyEmail(tc.stored)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("canonicalLegacyEmail(%q) = %q, %v; want %q, %v", tc.stored, got, ok, tc.want, tc.want != "")
		}
	}
}

// FuzzCanonicalLegacyEmail: a stored address is rewritten only to an address the rule accepts,
// that is its own key and its own canonical form, and whose ASCII characters (in its canonical
// decomposition) are the stored address's, lower-cased: no character outside ASCII became one.
func FuzzCanonicalLegacyEmail(f *testing.F) {
	for _, s := range []string{"Åsa@x.se", "ceo@İbm.com", "Zoe\u0308@example.org", "\u212Aate@ibm.com", "hans@STRA\u1E9EE.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := canonicalLegacyEmail(s)
		if !ok {
			return
		}
		if err := CheckEmail(c); err != nil || NormalizeEmail(c) != c {
			t.Fatalf("%q became %q, which the rule refuses (%v) or keys otherwise", s, c, err)
		}
		if again, ok := canonicalLegacyEmail(c); !ok || again != c {
			t.Fatalf("%q became %q, which becomes %q, %v", s, c, again, ok)
		}
		stored := norm.NFD.String(strings.TrimSpace(s))
		if got, want := asciiPart(norm.NFD.String(c)), strings.ToLower(asciiPart(stored)); got != want {
			t.Fatalf("%q became %q, whose ASCII characters %q are not the stored ones lower-cased, %q", s, c, got, want)
		}
	})
}

func TestPlanEmailKeys(t *testing.T) {
	type row struct{ email, key, wantEmail, wantKey, wantResult, wantReason string }
	id := func(i int) uuid.UUID { return uuid.UUID{byte(i + 1)} }
	for _, tc := range []struct {
		name    string
		rows    []row
		wantErr bool
	}{
		{name: "holder keeps its key, the decomposed twin is isolated", rows: []row{
			{"ZOË@Example.org", "zoë@example.org", "zoë@example.org", "zoë@example.org", emailRewritten, ""},
			{"Zoe\u0308@example.org", "zoe\u0308@example.org", "Zoe\u0308@example.org", "zoe\u0308@example.org", emailIsolated, isolatedCollision},
		}},
		{name: "the same after the first migration 7 moved both keys", rows: []row{
			{"ZOË@Example.org", "zoË@example.org", "zoë@example.org", "zoë@example.org", emailRewritten, ""},
			{"Zoe\u0308@example.org", "zoe\u0308@example.org", "Zoe\u0308@example.org", "zoe\u0308@example.org", emailIsolated, isolatedCollision},
		}},
		{name: "an account made since then holds the key", rows: []row{
			{"ZOË@Example.org", "zoË@example.org", "ZOË@Example.org", "zoË@example.org", emailIsolated, isolatedCollision},
			{"zoë@example.org", "zoë@example.org", "zoë@example.org", "zoë@example.org", emailUnchanged, ""},
		}},
		{name: "nobody held it: nobody gets it", rows: []row{
			{"Ze\u0301\u0323@example.org", "ze\u0301\u0323@example.org", "Ze\u0301\u0323@example.org", "ze\u0301\u0323@example.org", emailIsolated, isolatedCollision},
			{"Ze\u0323\u0301@example.org", "ze\u0323\u0301@example.org", "Ze\u0323\u0301@example.org", "ze\u0323\u0301@example.org", emailIsolated, isolatedCollision},
		}},
		{name: "look-alike gives up the key it squatted", rows: []row{
			{"ceo@İbm.com", "ceo@ibm.com", "ceo@İbm.com", "ceo@İbm.com", emailIsolated, isolatedLookAlike},
			{"Zoë@Müller.de", "zoë@müller.de", "Zoë@Müller.de", "zoë@müller.de", emailUnchanged, ""},
		}},
		{name: "a key edited by hand is put right", rows: []row{
			{"zoë@müller.de", "someone-else", "zoë@müller.de", "zoë@müller.de", emailRekeyed, ""},
		}},
		{name: "two rows that cannot give way", wantErr: true, rows: []row{
			{"zoë@müller.de", "zoë@müller.de", "", "", "", ""},
			{"ascii@example.com", "zoë@müller.de", "", "", "", ""}, // a key edited by hand
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rows []emailRow
			for i, r := range tc.rows {
				rows = append(rows, emailRow{id: id(i), email: r.email, key: r.key})
			}
			plans, err := planEmailKeys(rows)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), id(0).String()) || !strings.Contains(err.Error(), id(1).String()) {
					t.Fatalf("planEmailKeys = %v; want an error naming both rows", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tc.rows {
				p := plans[i]
				if p.email != r.wantEmail || p.key != r.wantKey || p.result != r.wantResult || p.reason != r.wantReason {
					t.Errorf("%q keyed %q becomes %q keyed %q (%s %s); want %q keyed %q (%s %s)", r.email, r.key,
						p.email, p.key, p.result, p.reason, r.wantEmail, r.wantKey, r.wantResult, r.wantReason)
				}
			}
		})
	}
}
