package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

func mfaOn(c *server.Config) { c.MFAEnabled = true }

// totpCode is the code of secret at the test clock's now plus skew.
func totpCode(t *testing.T, h *servertest.Harness, secret string, skew time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, h.Clock.Now().Add(skew),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the start of the next 30-second step, so the previous step's
// code is spent-proof and the next code is fresh.
func nextStep(h *servertest.Harness) {
	now := h.Clock.Now()
	h.Clock.Advance(time.Duration(30-now.Unix()%30)*time.Second - time.Duration(now.Nanosecond()))
}

// totpUser signs a user up, generates and activates TOTP, and returns its session and secret.
// The clock ends at the start of a fresh step.
func totpUser(t *testing.T, h *servertest.Harness, email, password string) (gen.Session, string) {
	t.Helper()
	ctx := context.Background()
	s := signUp(t, h, email, password)
	gr, err := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(s.AccessToken))
	if err != nil || gr.JSON200 == nil {
		t.Fatalf("GET /v1/mfa/totp/generate: %v %d %s", err, gr.StatusCode(), gr.Body)
	}
	secret := gr.JSON200.TotpSecret
	nextStep(h)
	typ := gen.UserMfaRequestActiveMfaTypeTotp
	ar, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
		Code: totpCode(t, h, secret, 0), ActiveMfaType: &typ}, servertest.Bearer(s.AccessToken))
	if err != nil || ar.JSON200 == nil {
		t.Fatalf("POST /v1/user/mfa (activate): %v %d %s", err, ar.StatusCode(), ar.Body)
	}
	nextStep(h)
	return s, secret
}

// mfaTicket signs in with the password and returns the MFA ticket the answer must carry.
func mfaTicket(t *testing.T, h *servertest.Harness, email, password string) string {
	t.Helper()
	res, err := h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil || res.JSON200.Session != nil || res.JSON200.Mfa == nil || !strings.HasPrefix(res.JSON200.Mfa.Ticket, "mfaTotp:") {
		t.Fatalf("sign in of a TOTP user: %d %s, want 200 with an mfaTotp ticket and no session", res.StatusCode(), res.Body)
	}
	return res.JSON200.Mfa.Ticket
}

func signInMFA(t *testing.T, h *servertest.Harness, ticket, code string) *gen.VerifySignInMfaTotpResult {
	t.Helper()
	res, err := h.Client.VerifySignInMfaTotpWithResponse(context.Background(), gen.VerifySignInMfaTotpJSONRequestBody{Ticket: ticket, Otp: code})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTOTPFlow: generate, activate, sign in with a challenge, finish with a code, recovery codes,
// deactivate.
func TestTOTPFlow(t *testing.T) {
	h := servertest.Start(t, mfaOn)
	ctx := context.Background()
	s, secret := totpUser(t, h, "tia@example.com", "correct-horse")

	// The QR code is a PNG data URL of an otpauth URI; the user shows TOTP as active.
	gr := getUser(t, h, s.AccessToken)
	if gr.JSON200 == nil || gr.JSON200.ActiveMfaType == nil || *gr.JSON200.ActiveMfaType != "totp" {
		t.Fatalf("GET /v1/user after activation: %s, want activeMfaType totp", gr.Body)
	}

	ticket := mfaTicket(t, h, "tia@example.com", "correct-horse")
	res := signInMFA(t, h, ticket, totpCode(t, h, secret, 0))
	if res.JSON200 == nil || res.JSON200.Session == nil || res.JSON200.Session.User == nil {
		t.Fatalf("POST /v1/signin/mfa/totp: %d %s, want a session", res.StatusCode(), res.Body)
	}
	if r := getUser(t, h, res.JSON200.Session.AccessToken); r.StatusCode() != http.StatusOK {
		t.Fatalf("GET /v1/user with the MFA session: %d", r.StatusCode())
	}
	// Refresh tokens are unaffected by the second factor.
	if r, err := refresh(t, h, res.JSON200.Session.RefreshToken); err != nil || r.JSON200 == nil {
		t.Fatalf("refresh of an MFA session: %v %s", err, r.Body)
	}

	// Recovery codes: ten, each works once in place of a code.
	nextStep(h)
	rc, err := h.Client.CreateMfaRecoveryCodesWithResponse(ctx, gen.CreateMfaRecoveryCodesJSONRequestBody{Code: totpCode(t, h, secret, 0)},
		servertest.Bearer(s.AccessToken))
	if err != nil || rc.JSON200 == nil || len(rc.JSON200.RecoveryCodes) != 10 {
		t.Fatalf("POST /v1/user/mfa/recovery-codes: %v %s", err, rc.Body)
	}
	code := rc.JSON200.RecoveryCodes[3]
	if r := signInMFA(t, h, mfaTicket(t, h, "tia@example.com", "correct-horse"), strings.ToUpper(code)); r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("sign in with a recovery code: %d %s", r.StatusCode(), r.Body)
	}
	if n := auditCount(t, h, "mfa.recovery_code_used"); n != 1 {
		t.Errorf("mfa.recovery_code_used audited %d times, want 1", n)
	}

	// A new generate while active is refused; deactivation needs a current code.
	if r, _ := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(s.AccessToken)); r.StatusCode() != http.StatusBadRequest ||
		servertest.NhostError(t, r.Body).Error != gen.ErrorResponseErrorTotpAlreadyActive {
		t.Fatalf("generate while active: %d %s, want 400 totp-already-active", r.StatusCode(), r.Body)
	}
	nextStep(h)
	off := gen.UserMfaRequestActiveMfaTypeEmpty
	dr, err := h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{Code: totpCode(t, h, secret, 0), ActiveMfaType: &off},
		servertest.Bearer(s.AccessToken))
	if err != nil || dr.JSON200 == nil {
		t.Fatalf("deactivate: %v %s", err, dr.Body)
	}
	// The password alone signs in again.
	signIn(t, h, "tia@example.com", "correct-horse")
}

// TestTOTPSecretSealed: the stored secret is sealed, not the base32 the user saw, and a
// generate replaces a pending secret.
func TestTOTPSecretSealed(t *testing.T) {
	h := servertest.Start(t, mfaOn)
	ctx := context.Background()
	s := signUp(t, h, "seal@example.com", "correct-horse")
	first, err := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(s.AccessToken))
	if err != nil || first.JSON200 == nil {
		t.Fatalf("generate: %v %s", err, first.Body)
	}
	img := first.JSON200.ImageUrl
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(img, "data:image/png;base64,"))
	if !strings.HasPrefix(img, "data:image/png;base64,") || err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("imageUrl is not a PNG data URL")
	}
	u, err := h.Store.UserByEmail(ctx, "seal@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Store.TOTPState(ctx, u.ID)
	if err != nil || st.Sealed == nil || st.Active {
		t.Fatalf("TOTP state after generate: %+v %v, want a pending sealed secret", st, err)
	}
	if stored := *st.Sealed; !strings.HasPrefix(stored, "lk1.") || strings.Contains(stored, first.JSON200.TotpSecret) {
		t.Fatalf("stored secret is not sealed")
	}
	second, _ := h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(s.AccessToken))
	if second.JSON200 == nil || second.JSON200.TotpSecret == first.JSON200.TotpSecret {
		t.Fatalf("second generate: %s, want a new secret", second.Body)
	}
	// The first (replaced) secret no longer activates.
	typ := gen.UserMfaRequestActiveMfaTypeTotp
	r, _ := h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
		Code: totpCode(t, h, first.JSON200.TotpSecret, 0), ActiveMfaType: &typ}, servertest.Bearer(s.AccessToken))
	if r.StatusCode() != http.StatusUnauthorized || servertest.NhostError(t, r.Body).Error != gen.ErrorResponseErrorInvalidTotp {
		t.Fatalf("activate with the replaced secret: %d %s, want 401 invalid-totp", r.StatusCode(), r.Body)
	}
}

func auditCount(t *testing.T, h *servertest.Harness, action string) int64 {
	t.Helper()
	evs, err := h.Store.AuditEvents(context.Background(), action, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(evs))
}

// TestTOTPNegative: each refusal with its exact status and code, writing nothing but what a
// refusal must (the ticket's try count, the audit of a wrong code, the guess count). setup
// prepares what the refused request needs; only act runs under NoWrites.
func TestTOTPNegative(t *testing.T) {
	const email, password = "neg@example.com", "correct-horse"
	ctx := context.Background()
	type env struct {
		h      *servertest.Harness
		s      gen.Session // the TOTP user's
		secret string
		ticket string // a fresh MFA ticket of the TOTP user (setup may replace it)
		code   string // what setup left for act
		other  gen.Session
	}
	type result struct {
		status int
		body   []byte
	}
	mfa := func(e *env, code string) result {
		r := signInMFA(t, e.h, e.ticket, code)
		return result{r.StatusCode(), r.Body}
	}
	useOnce := func(t *testing.T, e *env, code string) {
		t.Helper()
		if r := signInMFA(t, e.h, mfaTicket(t, e.h, email, password), code); r.JSON200 == nil {
			t.Fatalf("first use: %d %s", r.StatusCode(), r.Body)
		}
	}
	otherUser := func(generate bool) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			e.other = signUp(t, e.h, "other@example.com", password)
			if generate {
				if r, _ := e.h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(e.other.AccessToken)); r.JSON200 == nil {
					t.Fatalf("generate: %s", r.Body)
				}
			}
		}
	}
	guess := []string{"mfa_tickets", "audit_events", "lockouts"} // a judged wrong code
	cases := []struct {
		name       string
		opts       []func(*server.Config)
		setup      func(t *testing.T, e *env)
		act        func(t *testing.T, e *env) result
		wantStatus int
		wantCode   gen.ErrorResponseError
		except     []string // tables the refusal may write
	}{
		{name: "wrong-code", act: func(t *testing.T, e *env) result { return mfa(e, "000000") },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "reused-code",
			setup:      func(t *testing.T, e *env) { e.code = totpCode(t, e.h, e.secret, 0); useOnce(t, e, e.code) },
			act:        func(t *testing.T, e *env) result { return mfa(e, e.code) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "earlier-step-after-a-later-one",
			setup:      func(t *testing.T, e *env) { useOnce(t, e, totpCode(t, e.h, e.secret, 0)) },
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, -30*time.Second)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "code-two-steps-old",
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, -60*time.Second)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "expired-ticket",
			setup:      func(t *testing.T, e *env) { e.h.Clock.Advance(5*time.Minute + time.Second) },
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, 0)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTicket},
		{name: "unknown-ticket",
			setup:      func(t *testing.T, e *env) { e.ticket = "mfaTotp:2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24" },
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, 0)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTicket},
		{name: "ticket-out-of-tries",
			setup: func(t *testing.T, e *env) {
				for i := 0; i < server.DefaultConfig().CodeMaxAttempts; i++ {
					if r := mfa(e, "000000"); r.status != 401 {
						t.Fatalf("wrong code %d: %d %s", i, r.status, r.body)
					}
				}
			},
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, 0)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTicket, except: []string{"lockouts"}},
		{name: "spent-ticket",
			setup: func(t *testing.T, e *env) {
				if r := mfa(e, totpCode(t, e.h, e.secret, 0)); r.status != 200 {
					t.Fatalf("first use: %d %s", r.status, r.body)
				}
				nextStep(e.h)
			},
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, 0)) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTicket},
		{name: "recovery-code-reuse",
			setup: func(t *testing.T, e *env) {
				rc, err := e.h.Client.CreateMfaRecoveryCodesWithResponse(ctx,
					gen.CreateMfaRecoveryCodesJSONRequestBody{Code: totpCode(t, e.h, e.secret, 0)}, servertest.Bearer(e.s.AccessToken))
				if err != nil || rc.JSON200 == nil {
					t.Fatalf("recovery codes: %v %s", err, rc.Body)
				}
				e.code = rc.JSON200.RecoveryCodes[0]
				useOnce(t, e, e.code)
			},
			act:        func(t *testing.T, e *env) result { return mfa(e, e.code) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "recovery-codes-replaced",
			setup: func(t *testing.T, e *env) {
				for i := 0; i < 2; i++ {
					rc, err := e.h.Client.CreateMfaRecoveryCodesWithResponse(ctx,
						gen.CreateMfaRecoveryCodesJSONRequestBody{Code: totpCode(t, e.h, e.secret, 0)}, servertest.Bearer(e.s.AccessToken))
					if err != nil || rc.JSON200 == nil {
						t.Fatalf("recovery codes: %v %s", err, rc.Body)
					}
					if i == 0 {
						e.code = rc.JSON200.RecoveryCodes[9]
					}
					nextStep(e.h)
				}
			},
			act:        func(t *testing.T, e *env) result { return mfa(e, e.code) },
			wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: guess},
		{name: "activate-wrong-code", setup: otherUser(true),
			act: func(t *testing.T, e *env) result {
				typ := gen.UserMfaRequestActiveMfaTypeTotp
				r, _ := e.h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
					Code: "123456", ActiveMfaType: &typ}, servertest.Bearer(e.other.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: []string{"audit_events", "lockouts"}},
		{name: "activate-without-secret", setup: otherUser(false),
			act: func(t *testing.T, e *env) result {
				typ := gen.UserMfaRequestActiveMfaTypeTotp
				r, _ := e.h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
					Code: "123456", ActiveMfaType: &typ}, servertest.Bearer(e.other.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 400, wantCode: gen.ErrorResponseErrorNoTotpSecret},
		{name: "activate-while-active",
			act: func(t *testing.T, e *env) result {
				typ := gen.UserMfaRequestActiveMfaTypeTotp
				r, _ := e.h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{
					Code: totpCode(t, e.h, e.secret, 0), ActiveMfaType: &typ}, servertest.Bearer(e.s.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 400, wantCode: gen.ErrorResponseErrorTotpAlreadyActive},
		{name: "deactivate-without-totp", setup: otherUser(false),
			act: func(t *testing.T, e *env) result {
				r, _ := e.h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{Code: "123456"},
					servertest.Bearer(e.other.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 401, wantCode: gen.ErrorResponseErrorDisabledMfaTotp},
		{name: "deactivate-wrong-code",
			act: func(t *testing.T, e *env) result {
				r, _ := e.h.Client.VerifyChangeUserMfaWithResponse(ctx, gen.VerifyChangeUserMfaJSONRequestBody{Code: "000000"},
					servertest.Bearer(e.s.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: []string{"audit_events", "lockouts"}},
		{name: "recovery-codes-wrong-code",
			act: func(t *testing.T, e *env) result {
				r, _ := e.h.Client.CreateMfaRecoveryCodesWithResponse(ctx, gen.CreateMfaRecoveryCodesJSONRequestBody{Code: "000000"},
					servertest.Bearer(e.s.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 401, wantCode: gen.ErrorResponseErrorInvalidTotp, except: []string{"audit_events", "lockouts"}},
		{name: "recovery-codes-without-totp", setup: otherUser(true),
			act: func(t *testing.T, e *env) result {
				r, _ := e.h.Client.CreateMfaRecoveryCodesWithResponse(ctx, gen.CreateMfaRecoveryCodesJSONRequestBody{Code: "123456"},
					servertest.Bearer(e.other.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 401, wantCode: gen.ErrorResponseErrorDisabledMfaTotp},
		{name: "ticket-of-another-kind",
			act: func(t *testing.T, e *env) result {
				e.ticket = "passwordReset:2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24"
				return mfa(e, "123456")
			}, wantStatus: 400, wantCode: gen.ErrorResponseErrorInvalidRequest},
		{name: "mfa-turned-off-later", opts: nil,
			setup: func(t *testing.T, e *env) {
				// The same database, served by an instance with MFA off: every MFA operation is a
				// disabled endpoint, as in Nhost.
				e.h = e.h.Another(t)
			},
			act:        func(t *testing.T, e *env) result { return mfa(e, totpCode(t, e.h, e.secret, 0)) },
			wantStatus: 409, wantCode: gen.ErrorResponseErrorDisabledEndpoint},
		{name: "generate-mfa-off", setup: func(t *testing.T, e *env) { e.h = e.h.Another(t) },
			act: func(t *testing.T, e *env) result {
				r, _ := e.h.Client.ChangeUserMfaWithResponse(ctx, servertest.Bearer(e.s.AccessToken))
				return result{r.StatusCode(), r.Body}
			}, wantStatus: 409, wantCode: gen.ErrorResponseErrorDisabledEndpoint},
	}
	for _, c := range cases {
		t.Run("case="+c.name, func(t *testing.T) {
			t.Parallel()
			h := servertest.Start(t, append([]func(*server.Config){mfaOn}, c.opts...)...)
			s, secret := totpUser(t, h, email, password)
			e := &env{h: h, s: s, secret: secret, ticket: mfaTicket(t, h, email, password)}
			if c.setup != nil {
				c.setup(t, e)
			}
			var r result
			e.h.NoWrites(t, func() { r = c.act(t, e) }, c.except...)
			if r.status != c.wantStatus {
				t.Fatalf("status = %d, want %d; body: %s", r.status, c.wantStatus, r.body)
			}
			if got := servertest.NhostError(t, r.body).Error; got != c.wantCode {
				t.Errorf("error = %s, want %s; body: %s", got, c.wantCode, r.body)
			}
		})
	}
}
