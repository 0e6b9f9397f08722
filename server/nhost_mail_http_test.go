package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
)

const mailPassword = "correct-horse-battery"

func requireVerified(c *server.Config) { c.RequireVerifiedEmail = true }

// mailedLink is a /v1/verify link from a mail, split into what tests need.
type mailedLink struct {
	raw                      string
	ticket, kind, redirectTo string
}

func linkOf(t *testing.T, m *servertest.Mail) mailedLink {
	t.Helper()
	raw := m.Link(t, "/v1/verify")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	return mailedLink{raw: raw, ticket: q.Get("ticket"), kind: q.Get("type"), redirectTo: q.Get("redirectTo")}
}

// follow GETs a mailed link and returns the redirect's target; it fails unless the answer is 302.
func follow(t *testing.T, h *servertest.Harness, link string) *url.URL {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return redirected(t, h, http.MethodGet, u.RequestURI(), nil, "")
}

// redirected sends a request that must answer 302 and returns where it redirects.
func redirected(t *testing.T, h *servertest.Harness, method, path string, header map[string]string, body string) *url.URL {
	t.Helper()
	hdr, status, resp := h.Send(t, method, path, header, body)
	if status != http.StatusFound {
		t.Fatalf("%s %s: status %d, body %s; want 302", method, path, status, resp)
	}
	if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("a redirect carrying a session may be cached or leak its referrer: %v", hdr)
	}
	to, err := url.Parse(hdr.Get("Location"))
	if err != nil || to.Scheme == "" {
		t.Fatalf("redirect Location %q: %v", hdr.Get("Location"), err)
	}
	return to
}

func wantRedirectSession(t *testing.T, h *servertest.Harness, to *url.URL, kind string) string {
	t.Helper()
	if !strings.HasPrefix(to.String(), servertest.ClientURL) {
		t.Fatalf("redirected to %s, want the client URL %s", to, servertest.ClientURL)
	}
	q := to.Query()
	if q.Get("type") != kind || q.Get("refreshToken") == "" || q.Get("error") != "" {
		t.Fatalf("redirect query %v: want type=%s and a refreshToken", q, kind)
	}
	res, err := refresh(t, h, q.Get("refreshToken"))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("the redirect's refresh token does not refresh: %v %s", err, res.Body)
	}
	return res.JSON200.AccessToken
}

func wantRedirectError(t *testing.T, to *url.URL, code string) {
	t.Helper()
	q := to.Query()
	if q.Get("error") != code || q.Get("errorDescription") == "" || q.Get("refreshToken") != "" {
		t.Fatalf("redirect query %v: want error=%s with a description and no session", q, code)
	}
}

func wantNhostError(t *testing.T, status int, body []byte, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, body %s; want %d %s", status, body, wantStatus, code)
	}
	if e := servertest.NhostError(t, body); string(e.Error) != code {
		t.Fatalf("error %q, want %q", e.Error, code)
	}
}

func requestReset(t *testing.T, h *servertest.Harness, email string) {
	t.Helper()
	res, err := h.Client.SendPasswordResetEmailWithResponse(context.Background(), gen.SendPasswordResetEmailJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("password reset request: %v %d %s", err, res.StatusCode(), res.Body)
	}
}

func resetWithTicket(t *testing.T, h *servertest.Harness, ticket, password string) (int, []byte) {
	t.Helper()
	res, err := h.Client.ChangeUserPasswordWithResponse(context.Background(), gen.ChangeUserPasswordJSONRequestBody{NewPassword: password, Ticket: &ticket})
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode(), res.Body
}

// TestMailPasswordReset: the reset link signs the owner in; the ticket sets a password once,
// ends every session, and only the newest ticket works.
func TestMailPasswordReset(t *testing.T) {
	h := servertest.Start(t)
	email := "reset@example.com"
	old := signUp(t, h, email, mailPassword)

	requestReset(t, h, email)
	m := h.Mail.Next(t, email)
	l := linkOf(t, m)
	if !strings.HasPrefix(l.ticket, "passwordReset:") || l.kind != "passwordReset" || l.redirectTo != servertest.ClientURL {
		t.Fatalf("reset link %s: ticket, type or redirect wrong", l.raw)
	}
	if code := m.Code(t, 8); code == "" {
		t.Fatal("no code in the reset mail")
	}
	wantRedirectSession(t, h, follow(t, h, l.raw), "passwordReset")
	wantRedirectError(t, follow(t, h, l.raw), "invalid-ticket") // links work once

	// A second request: its ticket replaces the first, which stops working.
	requestReset(t, h, email)
	first := linkOf(t, h.Mail.Next(t, email)).ticket
	requestReset(t, h, email)
	second := linkOf(t, h.Mail.Next(t, email)).ticket
	status, body := resetWithTicket(t, h, first, "a-new-password-1")
	wantNhostError(t, status, body, http.StatusUnauthorized, "invalid-ticket")

	if status, body := resetWithTicket(t, h, second, "a-new-password-2"); status != http.StatusOK {
		t.Fatalf("reset with ticket: %d %s", status, body)
	}
	status, body = resetWithTicket(t, h, second, "a-new-password-3")
	wantNhostError(t, status, body, http.StatusUnauthorized, "invalid-ticket")

	signIn(t, h, email, "a-new-password-2")
	if res := must(refresh(t, h, old.RefreshToken))(t); res.StatusCode() != http.StatusUnauthorized {
		t.Errorf("a session from before the reset still refreshes: %d", res.StatusCode())
	}
	// Tickets and codes never reach the log.
	for _, secret := range []string{first, second, l.ticket} {
		if strings.Contains(h.Logs.String(), secret) {
			t.Fatalf("a ticket appears in the log")
		}
	}
}

// TestMailResetUnknownAddress: the same answer, no mail and no row for an address without an
// account.
func TestMailResetUnknownAddress(t *testing.T) {
	h := servertest.Start(t)
	h.NoWrites(t, func() { requestReset(t, h, "nobody@example.com") })
	if _, err := h.Server.DeliverMail(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := h.Mail.Count("nobody@example.com"); n != 0 {
		t.Fatalf("%d mails to an unknown address", n)
	}
}

// TestMailResetTicketRace: sixteen requests present one reset ticket at once; exactly one sets
// the password.
func TestMailResetTicketRace(t *testing.T) {
	h := servertest.Start(t)
	email := "race@example.com"
	signUp(t, h, email, mailPassword)
	requestReset(t, h, email)
	ticket := linkOf(t, h.Mail.Next(t, email)).ticket

	var wg sync.WaitGroup
	statuses := make([]int, 16)
	start := make(chan struct{})
	for i := range statuses {
		wg.Go(func() {
			<-start
			statuses[i], _ = resetWithTicket(t, h, ticket, "raced-password-"+string(rune('a'+i)))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d resets succeeded with one ticket, want 1", ok)
	}
}

// TestMailTicketFailures: expired, tampered and foreign tickets and codes, and a disallowed
// redirect.
func TestMailTicketFailures(t *testing.T) {
	h := servertest.Start(t)
	email, other := "tickets@example.com", "other@example.com"
	signUp(t, h, email, mailPassword)
	signUp(t, h, other, mailPassword)
	requestReset(t, h, email)
	m := h.Mail.Next(t, email)
	l := linkOf(t, m)
	verifyLink := func(ticket string) string {
		return "/v1/verify?" + url.Values{"ticket": {ticket}, "type": {l.kind}, "redirectTo": {l.redirectTo}}.Encode()
	}

	t.Run("tampered", func(t *testing.T) {
		last := l.ticket[len(l.ticket)-1]
		swap := byte('0')
		if last == '0' {
			swap = '1'
		}
		wantRedirectError(t, follow(t, h, h.URL+verifyLink(l.ticket[:len(l.ticket)-1]+string(swap))), "invalid-ticket")
		wantRedirectError(t, follow(t, h, h.URL+verifyLink("nonsense")), "invalid-ticket")
	})
	t.Run("foreign", func(t *testing.T) {
		// A verification ticket does not reset a password, even renamed.
		r, err := h.Client.SendVerificationEmailWithResponse(context.Background(), gen.SendVerificationEmailJSONRequestBody{Email: openapi_types.Email(other)})
		if err != nil || r.StatusCode() != http.StatusOK {
			t.Fatalf("send verification: %v %d", err, r.StatusCode())
		}
		vm := h.Mail.Next(t, other)
		vt := linkOf(t, vm).ticket
		status, body := resetWithTicket(t, h, "passwordReset:"+strings.TrimPrefix(vt, "emailVerify:"), "whatever-password")
		wantNhostError(t, status, body, http.StatusUnauthorized, "invalid-ticket")
		// One user's code does not work for another address, nor as another kind of code. The
		// other address has a reset code of its own pending, so that only the code can be wrong:
		// without one, any code would be refused for want of a ticket.
		requestReset(t, h, other)
		om := h.Mail.Next(t, other)
		for _, c := range []gen.VerifyTicketCodeRequest{
			{Email: openapi_types.Email(other), Code: m.Code(t, 8), Type: gen.TicketTypePasswordReset},
			{Email: openapi_types.Email(other), Code: vm.Code(t, 8), Type: gen.TicketTypePasswordReset},
		} {
			res, err := h.Client.VerifyTicketCodeWithResponse(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-ticket")
		}
		// The control: the other address's own code is accepted.
		res, err := h.Client.VerifyTicketCodeWithResponse(context.Background(), gen.VerifyTicketCodeRequest{
			Email: openapi_types.Email(other), Code: om.Code(t, 8), Type: gen.TicketTypePasswordReset})
		if err != nil {
			t.Fatal(err)
		}
		if res.JSON200 == nil {
			t.Fatalf("the other address's own reset code: %d %s", res.StatusCode(), res.Body)
		}
	})
	t.Run("disallowed-redirect", func(t *testing.T) {
		u := "/v1/verify?" + url.Values{"ticket": {l.ticket}, "redirectTo": {"https://evil.example/steal"}}.Encode()
		var status int
		var body []byte
		h.NoWrites(t, func() { status, body = h.Do(t, http.MethodGet, u, nil, "") })
		wantNhostError(t, status, body, http.StatusBadRequest, "redirectTo-not-allowed")
		res, err := h.Client.SendPasswordResetEmailWithResponse(context.Background(), gen.SendPasswordResetEmailJSONRequestBody{
			Email: openapi_types.Email(email), Options: &gen.OptionsRedirectTo{RedirectTo: ptr("https://app.latchkey.test.evil.example/")}})
		if err != nil {
			t.Fatal(err)
		}
		wantNhostError(t, res.StatusCode(), res.Body, http.StatusBadRequest, "redirectTo-not-allowed")
	})
	t.Run("expired", func(t *testing.T) {
		h.Clock.Advance(2 * time.Hour)
		wantRedirectError(t, follow(t, h, l.raw), "invalid-ticket")
	})
}

// TestMailVerification: with verified addresses required, sign-up mails a link instead of
// signing in; the link verifies and signs in.
func TestMailVerification(t *testing.T) {
	h := servertest.Start(t, requireVerified)
	email := "verify@example.com"
	res, err := h.Client.SignUpEmailPasswordWithResponse(context.Background(), gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: mailPassword,
	})
	if err != nil || res.JSON200 == nil || res.JSON200.Session != nil {
		t.Fatalf("sign-up with verification required: %v %d %s", err, res.StatusCode(), res.Body)
	}
	in, err := h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: mailPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNhostError(t, in.StatusCode(), in.Body, http.StatusUnauthorized, "unverified-user")

	// Asking again replaces the first link.
	first := linkOf(t, h.Mail.Next(t, email))
	send := func() (int, []byte) {
		r, err := h.Client.SendVerificationEmailWithResponse(context.Background(), gen.SendVerificationEmailJSONRequestBody{Email: openapi_types.Email(email)})
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode(), r.Body
	}
	if status, body := send(); status != http.StatusOK {
		t.Fatalf("send verification: %d %s", status, body)
	}
	second := linkOf(t, h.Mail.Next(t, email))
	wantRedirectError(t, follow(t, h, first.raw), "invalid-ticket")
	access := wantRedirectSession(t, h, follow(t, h, second.raw), "emailVerify")
	if u := getUser(t, h, access); u.JSON200 == nil || !u.JSON200.EmailVerified {
		t.Fatalf("user after verification: %s", u.Body)
	}
	signIn(t, h, email, mailPassword)

	status, body := send()
	wantNhostError(t, status, body, http.StatusBadRequest, "email-already-verified")
}

// TestMailEmailChange: the new address confirms with the mailed code; the old one is told.
func TestMailEmailChange(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "old@example.com", mailPassword)
	signUp(t, h, "taken@example.com", mailPassword)

	change := func(newEmail string) (int, []byte) {
		r, err := h.Client.ChangeUserEmailWithResponse(context.Background(), gen.ChangeUserEmailJSONRequestBody{NewEmail: openapi_types.Email(newEmail)}, servertest.Bearer(s.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode(), r.Body
	}
	var status int
	var body []byte
	h.NoWrites(t, func() { status, body = change("TAKEN@example.com") })
	wantNhostError(t, status, body, http.StatusConflict, "email-already-in-use")

	if status, body := change("new@example.com"); status != http.StatusOK {
		t.Fatalf("change email: %d %s", status, body)
	}
	notice := h.Mail.Next(t, "old@example.com")
	if !strings.Contains(notice.Text, "new@example.com") {
		t.Fatalf("the notice to the old address does not name the new one:\n%s", notice.Text)
	}
	confirm := h.Mail.Next(t, "new@example.com")
	code := confirm.Code(t, 8)

	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	r, err := h.Client.VerifyTicketCodeWithResponse(context.Background(), gen.VerifyTicketCodeJSONRequestBody{
		Email: "new@example.com", Code: wrong, Type: gen.TicketTypeEmailConfirmChange})
	if err != nil {
		t.Fatal(err)
	}
	wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-ticket")

	r, err = h.Client.VerifyTicketCodeWithResponse(context.Background(), gen.VerifyTicketCodeJSONRequestBody{
		Email: "NEW@example.com", Code: code, Type: gen.TicketTypeEmailConfirmChange})
	if err != nil || r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("verify code: %v %d %s", err, r.StatusCode(), r.Body)
	}
	u := getUser(t, h, r.JSON200.Session.AccessToken)
	if u.JSON200 == nil || string(*u.JSON200.Email) != "new@example.com" || !u.JSON200.EmailVerified {
		t.Fatalf("user after the change: %s", u.Body)
	}
	signIn(t, h, "new@example.com", mailPassword)
	if events := must(h.Store.AuditEvents(context.Background(), "user.email_change", 10))(t); len(events) != 1 || events[0].TargetUserID == nil || events[0].TargetUserID.String() != string(u.JSON200.Id) {
		t.Fatalf("user.email_change audit = %+v", events)
	}
	// The code's link is spent with it.
	wantRedirectError(t, follow(t, h, linkOf(t, confirm).raw), "invalid-ticket")
}

// TestMailPasswordless: a magic link creates the account on first use and signs it in.
func TestMailPasswordless(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.AllowedRedirectURLs = []string{"https://*.preview.example"} })
	email := "magic@example.com"
	redirect := "https://pr-7.preview.example/welcome?from=mail"
	name := "Magic User"
	res, err := h.Client.SignInPasswordlessEmailWithResponse(context.Background(), gen.SignInPasswordlessEmailJSONRequestBody{
		Email: openapi_types.Email(email), Options: &gen.SignUpOptions{DisplayName: &name, RedirectTo: &redirect}})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("passwordless: %v %d %s", err, res.StatusCode(), res.Body)
	}
	l := linkOf(t, h.Mail.Next(t, email))
	if l.redirectTo != redirect {
		t.Fatalf("link redirects to %q, want %q", l.redirectTo, redirect)
	}
	to := follow(t, h, l.raw)
	if to.Host != "pr-7.preview.example" || to.Query().Get("from") != "mail" || to.Query().Get("refreshToken") == "" {
		t.Fatalf("redirected to %s", to)
	}
	r, err := refresh(t, h, to.Query().Get("refreshToken"))
	if err != nil || r.JSON200 == nil || r.JSON200.User == nil || r.JSON200.User.DisplayName != name || !r.JSON200.User.EmailVerified {
		t.Fatalf("magic-link session: %v %s", err, r.Body)
	}

	bad := "https://preview.example.evil.test/"
	res, err = h.Client.SignInPasswordlessEmailWithResponse(context.Background(), gen.SignInPasswordlessEmailJSONRequestBody{
		Email: openapi_types.Email(email), Options: &gen.SignUpOptions{RedirectTo: &bad}})
	if err != nil {
		t.Fatal(err)
	}
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusBadRequest, "redirectTo-not-allowed")
}

// TestMailPasswordlessSignupDisabled: no account is made when sign-up is closed.
func TestMailPasswordlessSignupDisabled(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.DisableSignup = true })
	var status int
	var body []byte
	h.NoWrites(t, func() {
		status, body = h.Do(t, http.MethodPost, "/v1/signin/passwordless/email", map[string]string{"Content-Type": "application/json"}, `{"email":"closed@example.com"}`)
	})
	wantNhostError(t, status, body, http.StatusForbidden, "signup-disabled")
}

// TestMailOTP: six-digit codes sign in once, expire, and die after too many wrong tries.
func TestMailOTP(t *testing.T) {
	h := servertest.Start(t)
	email := "otp@example.com"
	ask := func() string {
		t.Helper()
		res, err := h.Client.SignInOTPEmailWithResponse(context.Background(), gen.SignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email)})
		if err != nil || res.StatusCode() != http.StatusOK {
			t.Fatalf("otp request: %v %d %s\n%s", err, res.StatusCode(), res.Body, h.Logs)
		}
		return h.Mail.Next(t, email).Code(t, 6)
	}
	verify := func(code string) *gen.VerifySignInOTPEmailResult {
		t.Helper()
		res, err := h.Client.VerifySignInOTPEmailWithResponse(context.Background(), gen.VerifySignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email), Otp: code})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	wrongFor := func(code string) string {
		if code == "000000" {
			return "000001"
		}
		return "000000"
	}

	code := ask()
	r := verify(wrongFor(code))
	wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	if r = verify(code); r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("right code: %d %s", r.StatusCode(), r.Body)
	}
	r = verify(code)
	wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")

	t.Run("attempts-exhausted", func(t *testing.T) {
		code := ask()
		for range server.DefaultConfig().CodeMaxAttempts {
			verify(wrongFor(code))
		}
		r := verify(code)
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	})
	t.Run("expired", func(t *testing.T) {
		code := ask()
		h.Clock.Advance(server.DefaultConfig().OTPTTL + time.Second)
		r := verify(code)
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	})
	t.Run("replaced", func(t *testing.T) {
		first := ask()
		second := ask()
		if first != second {
			r := verify(first)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		}
		if r := verify(second); r.JSON200 == nil {
			t.Fatalf("newest code: %d %s", r.StatusCode(), r.Body)
		}
	})
}

// TestMailSMTPDown: with the SMTP server down the request still succeeds; the mail waits in the
// outbox, with its error, and goes out once the server is back.
func TestMailSMTPDown(t *testing.T) {
	h := servertest.Start(t)
	email := "outage@example.com"
	signUp(t, h, email, mailPassword)

	h.Mail.Stop()
	requestReset(t, h, email)
	if _, err := h.Server.DeliverMail(t.Context()); err != nil {
		t.Fatal(err)
	}
	pending, err := h.Store.UndeliveredMail(t.Context(), 10)
	if err != nil || len(pending) != 1 || pending[0].LastError == "" || pending[0].FailedAt != nil {
		t.Fatalf("outbox during the outage: %v %+v", err, pending)
	}
	if !strings.Contains(h.Logs.String(), "mail delivery failed") || !strings.Contains(h.Logs.String(), pending[0].RequestID) || pending[0].RequestID == "" {
		t.Fatal("the failed delivery is not logged with its request id")
	}

	h.Mail.Restart(t)
	h.Clock.Advance(5 * time.Minute) // past the first retry's backoff, well within the ticket's life
	if _, err := h.Server.DeliverMail(t.Context()); err != nil {
		t.Fatal(err)
	}
	l := linkOf(t, h.Mail.Next(t, email))
	wantRedirectSession(t, h, follow(t, h, l.raw), "passwordReset")
	if pending := must(h.Store.UndeliveredMail(t.Context(), 10))(t); len(pending) != 0 {
		t.Fatalf("still undelivered after the outage: %+v", pending)
	}
}

// TestMailConfirmLinks: in confirm mode a GET of the link (what mail scanners do) spends
// nothing; the page's POST completes it.
func TestMailConfirmLinks(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.ConfirmLinks = true })
	email := "scanned@example.com"
	signUp(t, h, email, mailPassword)
	requestReset(t, h, email)
	l := linkOf(t, h.Mail.Next(t, email))
	u := must(url.Parse(l.raw))(t)

	for range 3 { // a scanner may open it several times
		status, body := h.Do(t, http.MethodGet, u.RequestURI(), nil, "")
		if status != http.StatusOK || !strings.Contains(string(body), `method="post"`) {
			t.Fatalf("confirm page: %d %s", status, body)
		}
	}
	form := url.Values{"ticket": {l.ticket}, "redirectTo": {l.redirectTo}}.Encode()
	post := func() *url.URL {
		return redirected(t, h, http.MethodPost, "/v1/verify", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form)
	}
	wantRedirectSession(t, h, post(), "passwordReset")
	wantRedirectError(t, post(), "invalid-ticket")
}

// TestMailConcealErrors: in conceal mode an already-verified address gets the same answer as any
// other, and no mail.
func TestMailConcealErrors(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.ConcealErrors = true })
	email := "hidden@example.com"
	signUp(t, h, email, mailPassword)
	// Verify the address through a sign-in code, then ask for verification again.
	res, err := h.Client.SignInOTPEmailWithResponse(context.Background(), gen.SignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatal(err, res.StatusCode())
	}
	code := h.Mail.Next(t, email).Code(t, 6)
	v := must(h.Client.VerifySignInOTPEmailWithResponse(context.Background(), gen.VerifySignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email), Otp: code}))(t)
	if v.JSON200 == nil || !v.JSON200.Session.User.EmailVerified {
		t.Fatalf("otp sign-in: %s", v.Body)
	}
	h.NoWrites(t, func() {
		r, err := h.Client.SendVerificationEmailWithResponse(context.Background(), gen.SendVerificationEmailJSONRequestBody{Email: openapi_types.Email(email)})
		if err != nil || r.StatusCode() != http.StatusOK {
			t.Fatalf("conceal mode: %v %d %s", err, r.StatusCode(), r.Body)
		}
	})
}

// TestMailDeanonymizePasswordless: an anonymous user gives an address and gets a sign-in link.
func TestMailDeanonymizePasswordless(t *testing.T) {
	h := servertest.Start(t, anonymousOn)
	res, err := h.Client.SignInAnonymousWithResponse(context.Background(), gen.SignInAnonymousJSONRequestBody{})
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("anonymous: %v %s", err, res.Body)
	}
	email := "was-anonymous@example.com"
	d, err := h.Client.DeanonymizeUserWithResponse(context.Background(), gen.DeanonymizeUserJSONRequestBody{
		SignInMethod: gen.UserDeanonymizeRequestSignInMethodPasswordless, Email: openapi_types.Email(email)},
		servertest.Bearer(res.JSON200.Session.AccessToken))
	if err != nil || d.StatusCode() != http.StatusOK {
		t.Fatalf("deanonymize: %v %d %s", err, d.StatusCode(), d.Body)
	}
	access := wantRedirectSession(t, h, follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw), "signinPasswordless")
	if u := getUser(t, h, access); u.JSON200 == nil || u.JSON200.IsAnonymous || u.JSON200.Id != res.JSON200.Session.User.Id {
		t.Fatalf("user after deanonymizing: %s", u.Body)
	}
}

func ptr[T any](v T) *T { return &v }

// TestMailSMTPRejects: a temporary refusal (4xx) is retried later; a permanent one (5xx) gives
// the message up at once, with the reason kept for the operator.
func TestMailSMTPRejects(t *testing.T) {
	h := servertest.Start(t)
	email := "refused@example.com"
	signUp(t, h, email, mailPassword)
	deliver := func() {
		t.Helper()
		if _, err := h.Server.DeliverMail(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	undelivered := func() []store.OutboxMail {
		t.Helper()
		ms, err := h.Store.UndeliveredMail(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}

	h.Mail.RejectNext(1, 451)
	requestReset(t, h, email)
	deliver()
	if ms := undelivered(); len(ms) != 1 || ms[0].FailedAt != nil || !strings.Contains(ms[0].LastError, "451") {
		t.Fatalf("after a 451: %+v", ms)
	}
	h.Clock.Advance(time.Minute)
	deliver()
	h.Mail.Next(t, email)

	h.Mail.RejectNext(1, 550)
	requestReset(t, h, email)
	deliver()
	ms := undelivered()
	if len(ms) != 1 || ms[0].FailedAt == nil || !strings.Contains(ms[0].LastError, "550") {
		t.Fatalf("after a 550: %+v", ms)
	}
	h.Clock.Advance(time.Hour)
	deliver()
	if n := h.Mail.Count(email); n != 1 {
		t.Fatalf("%d mails arrived; the refused one must not be retried", n)
	}
	body := h.Metrics(t)
	for _, want := range []string{`latchkey_mail_deliveries_total{outcome="sent"} 1`,
		`latchkey_mail_deliveries_total{outcome="retry"} 1`, `latchkey_mail_deliveries_total{outcome="given_up"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMailLocale: mail goes out in the user's locale, with the default locale as fallback.
func TestMailLocale(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.AllowedLocales = []string{"en", "fr", "es"} })
	for _, c := range []struct{ locale, email, subject string }{
		{"fr", "amelie@example.com", "Réinitialisez"},
		{"es", "lucia@example.com", "Reset"}, // no Spanish templates: the default locale's
	} {
		locale := c.locale
		res, err := h.Client.SignUpEmailPasswordWithResponse(context.Background(), gen.SignUpEmailPasswordJSONRequestBody{
			Email: openapi_types.Email(c.email), Password: mailPassword, Options: &gen.SignUpOptions{Locale: &locale}})
		if err != nil || res.JSON200 == nil {
			t.Fatalf("sign up: %v %s", err, res.Body)
		}
		requestReset(t, h, c.email)
		if m := h.Mail.Next(t, c.email); !strings.Contains(m.Subject, c.subject) {
			t.Errorf("locale %s: subject %q, want it to contain %q", c.locale, m.Subject, c.subject)
		}
	}
}
