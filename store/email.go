package store

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// The one rule for email addresses, which every dialect, every lookup and every write follows:
//
//   - White space around an address is not part of it.
//   - Two addresses are the same account's when their keys are equal (NormalizeEmail): the address
//     with its ASCII letters A-Z lower-cased and nothing else changed. This is how mail systems
//     compare addresses in practice, so a key never stands for two mailboxes.
//   - An address is accepted (CheckEmail) only when every other character is already in the form
//     it would be compared in: composed (Unicode NFC), without upper-case or title-case letters,
//     and, in a domain that is not plain ASCII, exactly as IDNA (UTS #46, the form a resolver
//     looks up) maps it. Anything else is refused, rather than folded into an address that
//     may be someone else's: ceo@İbm.com, whose İ Unicode lower-cases to i, or ceo@Kbm.com with
//     the Kelvin sign K, which IDNA maps to k, would otherwise take over ceo@ibm.com or
//     ceo@kbm.com while mail to them went to another domain.
//
// Plain ASCII addresses compare exactly as before, case-insensitively; so do addresses whose
// other characters are already lower case and composed (zoë@müller.de, Zoë@Müller.de). Addresses
// stored before the rule are brought under it by migration 9 (emailkeys.go).

// maxEmailBytes is the longest address accepted (RFC 5321's path limit, less the angle brackets).
const maxEmailBytes = 254

// Why CheckEmail refuses an address. The messages reach clients as field errors.
var (
	ErrEmailTooLong      = errors.New("email address is too long")
	ErrEmailInvalid      = errors.New("not a valid email address")
	ErrEmailNotCanonical = errors.New("letters outside ASCII must be written in lower case and composed (NFC)")
	ErrEmailDomain       = errors.New("the domain is not a valid internationalized domain name in its IDNA form")
)

// NormalizeEmail is the key an address is compared by: surrounding white space removed and the
// ASCII letters lower-cased, nothing else changed. It never folds a non-ASCII character, so two
// addresses that CheckEmail accepts have the same key only when they name the same mailbox.
// Usernames (ASCII by contract) are compared by the same key, so a log-in that is either finds both.
func NormalizeEmail(email string) string {
	s := strings.TrimSpace(email)
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// CheckEmail reports why email cannot be accepted as an address, or nil: it must be a bare
// address (no display name, no surrounding white space) of at most 254 bytes, and every character
// outside ASCII must already be in the form NormalizeEmail compares it in (see the rule above).
func CheckEmail(email string) error {
	if len(email) > maxEmailBytes {
		return ErrEmailTooLong
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !utf8.ValidString(email) {
		return ErrEmailInvalid
	}
	if isASCII(email) {
		return nil
	}
	if !norm.NFC.IsNormalString(email) {
		return ErrEmailNotCanonical
	}
	for _, r := range email {
		if r >= utf8.RuneSelf && unicode.ToLower(r) != r {
			return ErrEmailNotCanonical
		}
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	if isASCII(domain) {
		return nil // compared as DNS compares it: ASCII letters case-insensitively
	}
	mapped, err := idna.Lookup.ToUnicode(domain)
	if err != nil {
		return ErrEmailDomain
	}
	if mapped != NormalizeEmail(domain) {
		return ErrEmailNotCanonical // full-width letters, say, which IDNA maps to ASCII ones
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// canonicalLegacyEmail is what an address stored before the rule above becomes under it: trimmed,
// Unicode lower-cased and composed (NFC). ok is false when that form would not name the mailbox
// the stored address named, so the row may not take it: a letter outside ASCII would become an
// ASCII one (İ lower-cases to i; the Kelvin sign is K by Unicode equivalence), the form is not one
// CheckEmail accepts, or mail to the stored address went to another domain (IDNA maps ｉｂｍ to
// ibm and ẞ to ss, while lower case keeps ｉｂｍ and makes ẞ ß).
func canonicalLegacyEmail(email string) (canonical string, ok bool) {
	stored := strings.TrimSpace(email)
	if !utf8.ValidString(stored) {
		return "", false
	}
	for _, r := range stored {
		if r >= utf8.RuneSelf && !keepsItsLetter(r) {
			return "", false
		}
	}
	canonical = norm.NFC.String(strings.ToLower(stored))
	if CheckEmail(canonical) != nil {
		return "", false
	}
	// CheckEmail found an @ in canonical, and the loop above let no character become an ASCII
	// one, so stored has its @ at the same place among its ASCII characters.
	domain := stored[strings.LastIndexByte(stored, '@')+1:]
	if !isASCII(domain) {
		mapped, err := idna.Lookup.ToUnicode(domain)
		if err != nil || mapped != canonical[strings.LastIndexByte(canonical, '@')+1:] {
			return "", false
		}
	}
	return canonical, true
}

// keepsItsLetter reports whether Unicode lower case leaves r (a character outside ASCII) a
// character that still has a part outside ASCII in its canonical decomposition, and whose ASCII
// part is r's own, lower-cased: Ë becomes ë (e and a diaeresis, as Ë is E and one), while İ (I
// and a dot) becomes the bare i, and the Kelvin sign (K by decomposition) the bare k.
func keepsItsLetter(r rune) bool {
	lower := norm.NFD.String(string(unicode.ToLower(r)))
	return !isASCII(lower) && asciiPart(lower) == strings.ToLower(asciiPart(norm.NFD.String(string(r))))
}

// asciiPart is the ASCII characters of s, in order (so strings.ToLower folds ASCII letters only).
func asciiPart(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
