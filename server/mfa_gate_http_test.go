package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestTOTPOtherDialects: a TOTP user's right password opens no session in the dialects with no
// MFA step; each answers its own error shape with a message naming the second factor, and
// writes nothing but the audit of the refusal. A personal access token is unaffected.
func TestTOTPOtherDialects(t *testing.T) {
	const email, password = "dia@example.com", "correct-horse"
	h := servertest.Start(t, mfaOn)
	ctx := context.Background()
	s := signUp(t, h, email, password)
	pat, err := h.Client.CreatePATWithResponse(ctx, gen.CreatePATJSONRequestBody{ExpiresAt: h.Clock.Now().AddDate(0, 1, 0)},
		servertest.Bearer(s.AccessToken))
	if err != nil || pat.JSON200 == nil {
		t.Fatalf("create PAT: %v %s", err, pat.Body)
	}
	activateTOTP(t, h, s.AccessToken)

	cases := []struct {
		name string
		call func() (int, []byte)
	}{
		{"wme", func() (int, []byte) {
			r, err := h.Client.WmeLoginWithResponse(ctx, gen.WmeLoginJSONRequestBody{Username: email, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode(), r.Body
		}},
		{"zesty", func() (int, []byte) {
			r, err := h.Client.ZestyLoginWithResponse(ctx, gen.ZestyLoginJSONRequestBody{Email: email, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode(), r.Body
		}},
		{"az", func() (int, []byte) {
			r, err := h.Client.AzSignInWithResponse(ctx, gen.AzSignInJSONRequestBody{Email: email, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			return r.StatusCode(), r.Body
		}},
	}
	for _, c := range cases {
		t.Run("dialect="+c.name, func(t *testing.T) {
			var status int
			var body []byte
			before := auditCount(t, h, "session.second_factor_required")
			h.NoWrites(t, func() { status, body = c.call() }, "audit_events")
			if status != http.StatusForbidden || !strings.Contains(string(body), "second factor") {
				t.Fatalf("status %d body %s, want 403 naming the second factor", status, body)
			}
			if after := auditCount(t, h, "session.second_factor_required"); after != before+1 {
				t.Errorf("refusal audited %d times, want 1", after-before)
			}
		})
	}
	// A user who must choose a new password gets no WME challenge either: answering it would
	// open a session with the password alone.
	u, err := h.Store.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Store.SetNewPasswordRequired(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	h.NoWrites(t, func() {
		r, err := h.Client.WmeLoginWithResponse(ctx, gen.WmeLoginJSONRequestBody{Username: email, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode() != http.StatusForbidden || !strings.Contains(string(r.Body), "second factor") {
			t.Errorf("WME login of a TOTP user who must choose a new password: %d %s, want 403 naming the second factor", r.StatusCode(), r.Body)
		}
	}, "audit_events")
	if err := h.Store.SetNewPasswordRequired(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	// A wrong password is still a wrong password (the gate comes after the first factor).
	r, _ := h.Client.WmeLoginWithResponse(ctx, gen.WmeLoginJSONRequestBody{Username: email, Password: "wrong-password"})
	if r.StatusCode() != http.StatusUnauthorized {
		t.Errorf("WME login with a wrong password: %d %s, want 401", r.StatusCode(), r.Body)
	}
	// PATs stay a way in: they are their own credential, created while signed in.
	ps, err := h.Client.SignInPATWithResponse(ctx, gen.SignInPATJSONRequestBody{PersonalAccessToken: pat.JSON200.PersonalAccessToken})
	if err != nil || ps.JSON200 == nil || ps.JSON200.Session == nil {
		t.Fatalf("PAT sign-in of a TOTP user: %v %s", err, ps.Body)
	}
}

// activateTOTP generates and activates TOTP for the signed-in user and returns the secret.
func activateTOTP(t *testing.T, h *servertest.Harness, access string) string {
	t.Helper()
	ctx := context.Background()
	gr, err := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(access))
	if err != nil || gr.JSON200 == nil {
		t.Fatalf("generate: %v %s", err, gr.Body)
	}
	nextStep(h)
	typ := gen.UserMfaRequestActiveMfaTypeTotp
	ar, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
		Code: totpCode(t, h, gr.JSON200.TotpSecret, 0), ActiveMfaType: &typ}, servertest.Bearer(access))
	if err != nil || ar.JSON200 == nil {
		t.Fatalf("activate: %v %s", err, ar.Body)
	}
	nextStep(h)
	return gr.JSON200.TotpSecret
}

// TestTOTPMailedSignIn: a magic link and a mailed code prove the mailbox, not the second
// factor: the link redirects with an mfaTicket and no refresh token, the code answers the
// challenge; the ticket then opens the session.
func TestTOTPMailedSignIn(t *testing.T) {
	const email, password = "mail@example.com", "correct-horse"
	h := servertest.Start(t, mfaOn)
	ctx := context.Background()
	_, secret := totpUser(t, h, email, password)

	if r, err := h.Client.SignInPasswordlessEmailWithResponse(ctx, gen.SignInPasswordlessEmailJSONRequestBody{
		Email: openapi_types.Email(email)}); err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("passwordless: %v %s", err, r.Body)
	}
	to := follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw)
	q := to.Query()
	if q.Get("refreshToken") != "" || !strings.HasPrefix(q.Get("mfaTicket"), "mfaTotp:") {
		t.Fatalf("magic-link redirect of a TOTP user: %s, want an mfaTicket and no refreshToken", to.Redacted())
	}
	if r := signInMFA(t, h, q.Get("mfaTicket"), totpCode(t, h, secret, 0)); r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("MFA after the magic link: %d %s", r.StatusCode(), r.Body)
	}
	nextStep(h)

	if r, err := h.Client.SignInOTPEmailWithResponse(ctx, gen.SignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email)}); err != nil ||
		r.StatusCode() != http.StatusOK {
		t.Fatalf("otp email: %v %s", err, r.Body)
	}
	code := h.Mail.Next(t, email).Code(t, 6)
	vr, err := h.Client.VerifySignInOTPEmailWithResponse(ctx, gen.VerifySignInOTPEmailJSONRequestBody{
		Email: openapi_types.Email(email), Otp: code})
	if err != nil || vr.JSON200 == nil || vr.JSON200.Session != nil || vr.JSON200.Mfa == nil {
		t.Fatalf("email OTP of a TOTP user: %v %d %s, want an MFA challenge and no session", err, vr.StatusCode(), vr.Body)
	}
	if r := signInMFA(t, h, vr.JSON200.Mfa.Ticket, totpCode(t, h, secret, 0)); r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("MFA after the email OTP: %d %s", r.StatusCode(), r.Body)
	}
}

// TestTOTPTwoInstances: a code accepted by one instance is refused by another on the same
// database, even inside its window.
func TestTOTPTwoInstances(t *testing.T) {
	const email, password = "two@example.com", "correct-horse"
	a := servertest.Start(t, mfaOn)
	b := a.Another(t, mfaOn)
	_, secret := totpUser(t, a, email, password)
	code := totpCode(t, a, secret, 0)
	if r := signInMFA(t, a, mfaTicket(t, a, email, password), code); r.JSON200 == nil {
		t.Fatalf("instance A: %d %s", r.StatusCode(), r.Body)
	}
	ticket := mfaTicket(t, b, email, password)
	var r *gen.VerifySignInMfaTotpResult
	b.NoWrites(t, func() { r = signInMFA(t, b, ticket, code) }, "mfa_tickets", "audit_events", "lockouts")
	if r.StatusCode() != http.StatusUnauthorized || servertest.NhostError(t, r.Body).Error != gen.ErrorResponseErrorInvalidTotp {
		t.Fatalf("instance B, same code: %d %s, want 401 invalid-totp", r.StatusCode(), r.Body)
	}
	// The ticket survives the wrong code: the next step's code opens the session on B.
	nextStep(b)
	if r := signInMFA(t, b, ticket, totpCode(t, b, secret, 0)); r.JSON200 == nil {
		t.Fatalf("instance B, next code: %d %s", r.StatusCode(), r.Body)
	}
}

// TestAdminTOTP: the admin view shows TOTP, and turning it off ends the user's sessions, is
// audited, and lets the password alone sign in again.
func TestAdminTOTP(t *testing.T) {
	const email, password = "adm@example.com", "correct-horse"
	h := servertest.Start(t, mfaOn, adminSecretOn)
	ctx := context.Background()
	s, _ := totpUser(t, h, email, password)
	id := s.User.Id
	uid, err := h.Store.UserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	g, err := h.Client.AdminGetUserWithResponse(ctx, uid.ID, asAdmin)
	if err != nil || g.JSON200 == nil || !g.JSON200.TotpActive {
		t.Fatalf("admin get user %s: %v %s, want totpActive", id, err, g.Body)
	}
	d, err := h.Client.AdminDisableUserTotpWithResponse(ctx, uid.ID, asAdmin)
	if err != nil || d.JSON200 == nil || d.JSON200.TotpActive {
		t.Fatalf("admin disable TOTP: %v %s, want totpActive false", err, d.Body)
	}
	if r := getUser(t, h, s.AccessToken); r.StatusCode() != http.StatusUnauthorized {
		t.Errorf("the user's session after the admin turned TOTP off: %d, want 401 (ended)", r.StatusCode())
	}
	if n := auditCount(t, h, "admin.user_totp_disable"); n != 1 {
		t.Errorf("admin.user_totp_disable audited %d times, want 1", n)
	}
	signIn(t, h, email, password)
	// Again, on a user without TOTP: answered as is, nothing written.
	h.NoWrites(t, func() {
		d, err = h.Client.AdminDisableUserTotpWithResponse(ctx, uid.ID, asAdmin)
	})
	if err != nil || d.JSON200 == nil || d.JSON200.TotpActive {
		t.Fatalf("admin disable TOTP again: %v %s", err, d.Body)
	}
}
