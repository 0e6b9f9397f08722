package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
)

// Scenarios of the one address rule (issue 17.7): an address is compared with its ASCII letters
// lower-cased and nothing else changed, and one whose other characters are not already in the
// form they are compared in (NFC, lower case, the domain as IDNA maps it) is refused, so no
// address can stand for another's mailbox.

// lookAlike is an address that Unicode case mapping or IDNA turns into real, another's address.
type lookAlike struct{ name, fake, real string }

var lookAlikes = []lookAlike{
	{"dotted-capital-I", "ceo@İbm.com", "ceo@ibm.com"},                          // strings.ToLower: İ -> i
	{"kelvin-in-domain", "ceo@\u212Abm.com", "ceo@kbm.com"},                     // K (Kelvin sign) -> k
	{"kelvin-in-local-part", "\u212Aate@ibm.com", "kate@ibm.com"},               // NFC and case: K -> K -> k
	{"fullwidth-domain", "boss@ｉｂｍ.com", "boss@ibm.com"},                        // IDNA maps ｉｂｍ to ibm
	{"decomposed", "zoe\u0308@example.com", "zoë@example.com"},                  // NFD of the real one
	{"capital-non-ascii", "ZOË@example.org", "zoë@example.org"},                 // Ë has a lower case
	{"capital-idn", "ceo@MÜLLER.de", "ceo@müller.de"},                           // so has Ü, in a domain
	{"titlecase-digraph", "\u01c5ungla@example.com", "\u01c6ungla@example.com"}, // ǅ -> ǆ
}

// TestLookAlikeAddresses: every dialect refuses an address that would be compared as another's,
// wherever an address comes in (sign-up, sign-in, reset, address change, admin); the real owner
// then signs up as a distinct account, a log-in with the look-alike never reaches it, and mail
// meant for one never goes to the other.
func TestLookAlikeAddresses(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	json := func(kv ...string) (map[string]string, string) {
		return negHeaders("Content-Type", "application/json"), wmeJSON(kv...)
	}
	for _, la := range lookAlikes {
		t.Run(la.name, func(t *testing.T) {
			refused := func(what, method, path string, want int, hdr map[string]string, body string) {
				t.Helper()
				h.NoWrites(t, func() {
					if status, b := h.Do(t, method, path, hdr, body); status != want {
						t.Fatalf("%s with %q: %d %.200s, want %d (refused)", what, la.fake, status, b, want)
					}
				})
			}
			// Sign-up, in each dialect that has one, and by the operator.
			hdr, body := json("email", la.fake, "password", mailPassword)
			refused("Nhost sign-up", http.MethodPost, "/v1/signup/email-password", http.StatusBadRequest, hdr, body)
			hdr, body = json("email", la.fake, "password", azPw)
			refused("Authentication Zero sign-up", http.MethodPost, "/sign_up", http.StatusUnprocessableEntity, hdr, body)
			hdr, body = json("email", la.fake, "password", mailPassword)
			hdr["X-Admin-Secret"] = testAdminSecret
			refused("admin create", http.MethodPost, "/v1/admin/users", http.StatusBadRequest, hdr, body)
			hdr, body = json("email", la.fake)
			refused("magic link", http.MethodPost, "/v1/signin/passwordless/email", http.StatusBadRequest, hdr, body)
			refused("one-time code", http.MethodPost, "/v1/signin/otp/email", http.StatusBadRequest, hdr, body)

			// The real owner's account is a different one.
			real := signUp(t, h, la.real, mailPassword)
			if real.User == nil || real.User.Email == nil || string(*real.User.Email) != la.real {
				t.Fatalf("sign-up of %q: user %+v", la.real, real.User)
			}

			// No log-in with the look-alike reaches it: refused where the contract checks the
			// address, the wrong account (none) where a username may stand instead.
			hdr, body = json("email", la.fake, "password", mailPassword)
			refused("Nhost sign-in", http.MethodPost, "/v1/signin/email-password", http.StatusBadRequest, hdr, body)
			refused("Zesty login", http.MethodPost, "/login", http.StatusBadRequest, hdr, body)
			hdr, body = json("email", la.fake, "password", mailPassword)
			refused("Authentication Zero sign-in", http.MethodPost, "/sign_in", http.StatusUnprocessableEntity, hdr, body)
			hdr, body = json("username", la.fake, "password", mailPassword)
			h.NoWrites(t, func() {
				if status, b := h.Do(t, http.MethodPost, "/v1/login", hdr, body); status != http.StatusUnauthorized {
					t.Fatalf("WME login as %q with %q's password: %d %.200s, want 401", la.fake, la.real, status, b)
				}
			}, negWrongPassword...) // a failed log-in of the name given, counted whether or not it has an account

			// Mail: a reset asked for the look-alike is refused; one for the real address goes
			// there and nowhere else.
			hdr, body = json("email", la.fake)
			refused("Nhost reset", http.MethodPost, "/v1/user/password/reset", http.StatusBadRequest, hdr, body)
			refused("Zesty reset", http.MethodPost, "/password/request", http.StatusBadRequest, hdr, body)
			refused("Authentication Zero reset", http.MethodPost, "/identity/password_reset", http.StatusUnprocessableEntity, hdr, body)
			hdr, body = json("username", la.fake)
			refused("WME reset", http.MethodPost, "/v1/forgot-password", http.StatusOK, hdr, body)
			hdr, body = json("email", la.real)
			if status, b := h.Do(t, http.MethodPost, "/v1/user/password/reset", hdr, body); status != http.StatusOK {
				t.Fatalf("reset of %q: %d %s", la.real, status, b)
			}
			h.Mail.Next(t, la.real)
			if n := h.Mail.Count(la.fake); n != 0 {
				t.Fatalf("%d mails went to %q", n, la.fake)
			}

			// Moving an account to the look-alike is refused too.
			hdr, body = json("newEmail", la.fake)
			hdr["Authorization"] = "Bearer " + real.AccessToken
			refused("Nhost address change", http.MethodPost, "/v1/user/email/change", http.StatusBadRequest, hdr, body)
		})
	}
}

// TestLookAlikeUsernames: a WME log-in names a username or an address by the same key, so the
// username ivan is not reached by İvan (whose İ Unicode lower-cases to i) or by the Kelvin sign
// standing for k in kate.
func TestLookAlikeUsernames(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	for _, c := range []struct{ username, fake string }{{"ivan", "İvan"}, {"kate", "\u212Aate"}} {
		hdr := negHeaders("Content-Type", "application/json", "X-Admin-Secret", testAdminSecret)
		if status, b := h.Do(t, http.MethodPost, "/v1/admin/users", hdr,
			wmeJSON("email", c.username+"@example.com", "username", c.username, "password", mailPassword)); status != http.StatusCreated {
			t.Fatalf("admin create %s: %d %s", c.username, status, b)
		}
		wmeLoginAs(t, h, strings.ToUpper(c.username), mailPassword) // ASCII case does not matter
		h.NoWrites(t, func() {
			status, b := h.Do(t, http.MethodPost, "/v1/login", negHeaders("Content-Type", "application/json"),
				wmeJSON("username", c.fake, "password", mailPassword))
			if status != http.StatusUnauthorized {
				t.Fatalf("WME login as %q with %q's password: %d %.200s, want 401", c.fake, c.username, status, b)
			}
		}, negWrongPassword...) // a failed log-in of the name given, counted whether or not it has an account
	}
}
