package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// The cap on code guesses over real HTTP: a new code starts its own tries afresh, so only a cap
// per target across codes keeps the six- and eight-digit codes from being guessed.

// codeCap sets the cap on code guesses; the admin secret lets a test read the audit log.
func codeCap(n int, window time.Duration) func(*server.Config) {
	return func(c *server.Config) {
		c.CodeGuessLimit = server.RateLimit{Requests: n, Window: window}
		c.AdminSecret = testAdminSecret
	}
}

// wrongCode is a code of n digits that is not code.
func wrongCode(code string, n int) string {
	w := strings.Repeat("0", n)
	if code == w {
		w = strings.Repeat("1", n)
	}
	return w
}

func askOTP(t *testing.T, h *servertest.Harness, email string) string {
	t.Helper()
	wantStatus(t, "ask for a code", from(t, h, "127.0.0.1", http.MethodPost, "/v1/signin/otp/email", map[string]string{"email": email}), http.StatusOK)
	return h.Mail.Next(t, email).Code(t, 6)
}

func verifyOTP(t *testing.T, h *servertest.Harness, email, code string) answer {
	t.Helper()
	return from(t, h, "127.0.0.1", http.MethodPost, "/v1/signin/otp/email/verify", map[string]string{"email": email, "otp": code})
}

// TestCodeGuessCap: asking for code after code and guessing at each for an hour, an attacker
// has no more guesses judged than the cap (the default: 20 an hour), however many codes are
// mailed; the rest are refused with Retry-After, the right code among them, and the cap being
// reached is audited. An address without an account answers the same at every step. When the
// lock ends, the right code works.
func TestCodeGuessCap(t *testing.T) {
	t.Parallel()
	def := server.DefaultConfig().CodeGuessLimit
	h := servertest.Start(t, codeCap(def.Requests, def.Window))
	const known, unknown = "target@example.com", "nobody@example.com"
	id := signUp(t, h, known, "correct-horse-battery").User.Id
	start := h.Clock.Now()
	judged, refused, codes := 0, 0, 0
	for h.Clock.Now().Sub(start) < time.Hour {
		code := askOTP(t, h, known)
		codes++
		for range server.DefaultConfig().CodeMaxAttempts { // every try this code allows
			k := verifyOTP(t, h, known, wrongCode(code, 6))
			u := verifyOTP(t, h, unknown, wrongCode(code, 6))
			if seen(k) != seen(u) {
				t.Fatalf("guess %d: an account answers %s\nno account answers %s", judged+refused+1, seen(k), seen(u))
			}
			switch k.status {
			case http.StatusUnauthorized:
				judged++
			case http.StatusTooManyRequests:
				refused++
				wantLimitedAs(t, "a guess over the cap", k, "Too many code guesses for this account", int(def.Window/time.Second))
			default:
				t.Fatalf("a wrong code: %d %s", k.status, k.raw)
			}
		}
		h.Clock.Advance(2 * time.Minute)
	}
	if judged > def.Requests || refused == 0 {
		t.Fatalf("in an hour, %d codes mailed: %d guesses judged, %d refused; want at most %d judged", codes, judged, refused, def.Requests)
	}
	// The right code is refused too while the lock lasts: a guess that could succeed is a guess.
	code := askOTP(t, h, known)
	r := verifyOTP(t, h, known, code)
	wantLimitedAs(t, "the right code during the lock", r, "Too many code guesses for this account", int(def.Window/time.Second))
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	h.Clock.Advance(time.Duration(wait) * time.Second)
	if r := verifyOTP(t, h, known, code); r.status != http.StatusOK {
		t.Fatalf("the right code after the lock: %d %s", r.status, r.raw)
	}
	st, body := h.Do(t, http.MethodGet, "/v1/admin/audit?action=code.guess_limit_reached&targetUserId="+id, map[string]string{"X-Admin-Secret": testAdminSecret}, "")
	if st != http.StatusOK || strings.Count(string(body), `"code.guess_limit_reached"`) != 1 {
		t.Fatalf("audit of the cap: %d %s", st, body)
	}
}

// TestCodeGuessCapAcrossKinds: one cap per name covers every kind of code mailed to it: sign-in
// codes, the codes of mailed links (/v1/verify/code) and WME's confirmation codes, which name
// the account by its address here. An administrator's lock clear forgets the count.
func TestCodeGuessCapAcrossKinds(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, codeCap(4, time.Hour))
	const email = "kinds@example.com"
	id := signUp(t, h, email, "correct-horse-battery").User.Id
	code := askOTP(t, h, email)
	wantStatus(t, "otp", verifyOTP(t, h, email, wrongCode(code, 6)), http.StatusUnauthorized)
	wantStatus(t, "reset request", from(t, h, "127.0.0.1", http.MethodPost, "/v1/user/password/reset", map[string]string{"email": email}), http.StatusOK)
	reset := h.Mail.Next(t, email).Code(t, 8)
	ticketCode := func(c string) answer {
		return from(t, h, "127.0.0.1", http.MethodPost, "/v1/verify/code", map[string]string{"email": email, "code": c, "type": "passwordReset"})
	}
	wme := func(c string) answer {
		return from(t, h, "127.0.0.1", http.MethodPost, "/v1/forgot-password-confirm",
			map[string]string{"username": email, "confirmation_code": c, "password": "a-new-password-0123"})
	}
	wantStatus(t, "link code", ticketCode(wrongCode(reset, 8)), http.StatusUnauthorized)
	wantStatus(t, "wme code", wme(wrongCode(reset, 8)), http.StatusUnauthorized)
	wantStatus(t, "otp", verifyOTP(t, h, email, wrongCode(code, 6)), http.StatusUnauthorized)
	const msg = "Too many code guesses for this account"
	h.NoWrites(t, func() {
		wantLimitedAs(t, "link code over the cap", ticketCode(reset), msg, 3600)
		wantLimitedAs(t, "wme code over the cap", wme(reset), msg, 3600)
		wantLimitedAs(t, "otp over the cap", verifyOTP(t, h, email, code), msg, 3600)
	})
	st, body := h.Do(t, http.MethodDelete, "/v1/admin/users/"+id+"/lock", map[string]string{"X-Admin-Secret": testAdminSecret}, "")
	if st != http.StatusNoContent {
		t.Fatalf("clear lock: %d %s", st, body)
	}
	if r := wme(reset); r.status != http.StatusOK {
		t.Fatalf("wme code after the clear: %d %s", r.status, r.raw)
	}
}
