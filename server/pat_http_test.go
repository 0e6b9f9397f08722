package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// mintPAT creates a personal access token named name, living a day, for the holder of access.
func mintPAT(t *testing.T, h *servertest.Harness, access, name string) (id, pat string) {
	t.Helper()
	md := map[string]any{"name": name}
	res, err := h.Client.CreatePATWithResponse(context.Background(), gen.CreatePATJSONRequestBody{
		ExpiresAt: h.Clock.Now().Add(24 * time.Hour), Metadata: &md,
	}, servertest.Bearer(access))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("create PAT: %v %d %s", err, res.StatusCode(), res.Body)
	}
	return res.JSON200.Id, res.JSON200.PersonalAccessToken
}

// wantPAT fails unless the PAT signs in (works) or is refused with 401 invalid-pat.
func wantPAT(t *testing.T, h *servertest.Harness, pat string, works bool) {
	t.Helper()
	res, err := h.Client.SignInPATWithResponse(context.Background(), gen.SignInPATJSONRequestBody{PersonalAccessToken: pat})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case works && res.JSON200 == nil:
		t.Fatalf("PAT sign-in: %d %s, want 200", res.StatusCode(), res.Body)
	case !works && (res.JSON401 == nil || res.JSON401.Error != gen.ErrorResponseErrorInvalidPat):
		t.Fatalf("PAT sign-in: %d %s, want 401 invalid-pat", res.StatusCode(), res.Body)
	}
}

// auditOf is the one event of action about the user with that address.
func auditOf(t *testing.T, h *servertest.Harness, action, email string) map[string]any {
	t.Helper()
	u, err := h.Store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := h.Store.AuditEvents(context.Background(), action, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var found []map[string]any
	for _, e := range ev {
		if e.TargetUserID != nil && *e.TargetUserID == u.ID {
			found = append(found, e.Detail)
		}
	}
	if len(found) != 1 {
		t.Fatalf("audit %s of %s: %d events, want 1", action, email, len(found))
	}
	return found[0]
}

// wantAuditCount fails unless the one event of action about the user with that address has
// detail[key] == want.
func wantAuditCount(t *testing.T, h *servertest.Harness, action, email, key string, want float64) {
	t.Helper()
	d := auditOf(t, h, action, email)
	if got, ok := d[key].(float64); !ok || got != want {
		t.Fatalf("audit %s of %s: %s = %v, want %v (%v)", action, email, key, d[key], want, d)
	}
}

// recoveries are the ways an account is recovered, or its password set over its owner's head:
// each must end the personal access tokens minted before. Each gets a fresh account whose
// password is pw and returns the audit action that records the recovery.
var recoveries = []struct {
	name string
	run  func(t *testing.T, h *servertest.Harness, email string) string
}{
	{"nhost-ticket", func(t *testing.T, h *servertest.Harness, email string) string {
		requestReset(t, h, email)
		ticket := linkOf(t, h.Mail.Next(t, email)).ticket
		if status, body := resetWithTicket(t, h, ticket, "recovered-password-1"); status != http.StatusOK {
			t.Fatalf("reset with the ticket: %d %s", status, body)
		}
		return "user.password_reset"
	}},
	{"nhost-link-then-change", func(t *testing.T, h *servertest.Harness, email string) string {
		// What @nhost/nhost-js does: the link signs in, then the new password is set with
		// that session's access token.
		requestReset(t, h, email)
		access := wantRedirectSession(t, h, follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw), "passwordReset")
		res, err := h.Client.ChangeUserPasswordWithResponse(context.Background(),
			gen.ChangeUserPasswordJSONRequestBody{NewPassword: "recovered-password-1"}, servertest.Bearer(access))
		if err != nil || res.StatusCode() != http.StatusOK {
			t.Fatalf("change with the reset session: %v %d %s", err, res.StatusCode(), res.Body)
		}
		return "user.password_change"
	}},
	{"nhost-code-then-change", func(t *testing.T, h *servertest.Harness, email string) string {
		// The 8-digit code of the same mail signs in as its link does.
		requestReset(t, h, email)
		code := h.Mail.Next(t, email).Code(t, 8)
		res, err := h.Client.VerifyTicketCodeWithResponse(context.Background(), gen.VerifyTicketCodeJSONRequestBody{
			Email: openapi_types.Email(email), Code: code, Type: gen.TicketTypePasswordReset})
		if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
			t.Fatalf("verify the reset code: %v %d %s", err, res.StatusCode(), res.Body)
		}
		ch, err := h.Client.ChangeUserPasswordWithResponse(context.Background(),
			gen.ChangeUserPasswordJSONRequestBody{NewPassword: "recovered-password-1"}, servertest.Bearer(res.JSON200.Session.AccessToken))
		if err != nil || ch.StatusCode() != http.StatusOK {
			t.Fatalf("change with the reset session: %v %d %s", err, ch.StatusCode(), ch.Body)
		}
		return "user.password_change"
	}},
	{"nhost-magic-link-then-change", func(t *testing.T, h *servertest.Harness, email string) string {
		// POST /v1/user/password asks for no current password: setting one in a session that
		// a mailed sign-in link opened is a recovery by whoever reads the mail.
		changeInSession(t, h, magicLinkSession(t, h, email))
		return "user.password_change"
	}},
	{"nhost-email-otp-then-change", func(t *testing.T, h *servertest.Harness, email string) string {
		changeInSession(t, h, emailOTPSession(t, h, email))
		return "user.password_change"
	}},
	{"zesty", func(t *testing.T, h *servertest.Harness, email string) string {
		zWant(t, h, http.StatusOK, http.MethodPost, "/password/request", "", zJSON("email", email))
		ticket := linkOf(t, h.Mail.Next(t, email)).ticket
		zWant(t, h, http.StatusOK, http.MethodPost, "/password/reset", "", zJSON("token", strings.TrimPrefix(ticket, "passwordReset:"), "password", "recovered-password-1"))
		return "user.password_reset"
	}},
	{"wme", func(t *testing.T, h *servertest.Harness, email string) string {
		u, err := h.Store.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		username := strings.ReplaceAll(strings.Split(email, "@")[0], ".", "-")
		if err := h.Store.SetUsername(context.Background(), u.ID, username); err != nil {
			t.Fatal(err)
		}
		c := newWMEClient(t, h)
		if status, e := c.post("/forgot-password", map[string]string{"username": username}, nil); status != http.StatusOK {
			t.Fatalf("forgot-password: %d %v", status, e)
		}
		code := h.Mail.Next(t, email).Code(t, 8)
		if status, e := c.post("/forgot-password-confirm", map[string]string{"username": username, "password": "recovered-password-1", "confirmation_code": code}, nil); status != http.StatusOK {
			t.Fatalf("forgot-password-confirm: %d %v", status, e)
		}
		return "user.password_reset"
	}},
	{"authentication-zero", func(t *testing.T, h *servertest.Harness, email string) string {
		azDo(t, h, http.MethodPost, "/identity/password_reset", "", azJSONBody, "email", email).want(t, "request", http.StatusNoContent)
		u, err := url.Parse(azMailedPath(t, h, email, "/identity/password_reset/edit"))
		if err != nil {
			t.Fatal(err)
		}
		azDo(t, h, http.MethodPut, "/identity/password_reset", "", azJSONBody, "sid", u.Query().Get("sid"),
			"password", azNewPw, "password_confirmation", azNewPw).want(t, "reset", http.StatusOK)
		return "user.password_reset"
	}},
	{"admin-password-set", func(t *testing.T, h *servertest.Harness, email string) string {
		u, err := h.Store.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Client.AdminSetUserPasswordWithResponse(context.Background(), u.ID,
			gen.AdminSetPasswordRequest{Password: ptr("chosen-by-admin-1"), Temporary: ptr(false)}, asAdmin)
		if err != nil || res.StatusCode() != http.StatusOK {
			t.Fatalf("admin password set: %v %d %s", err, res.StatusCode(), res.Body)
		}
		return "admin.password_set"
	}},
}

// magicLinkSession signs in with a mailed sign-in link and returns the session's access token.
func magicLinkSession(t *testing.T, h *servertest.Harness, email string) string {
	t.Helper()
	res, err := h.Client.SignInPasswordlessEmailWithResponse(context.Background(), gen.SignInPasswordlessEmailJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("ask for a sign-in link: %v %d %s", err, res.StatusCode(), res.Body)
	}
	return wantRedirectSession(t, h, follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw), "signinPasswordless")
}

// emailOTPSession signs in with a mailed one-time code and returns the session's access token.
func emailOTPSession(t *testing.T, h *servertest.Harness, email string) string {
	t.Helper()
	res, err := h.Client.SignInOTPEmailWithResponse(context.Background(), gen.SignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("ask for a code: %v %d %s", err, res.StatusCode(), res.Body)
	}
	code := h.Mail.Next(t, email).Code(t, 6)
	v, err := h.Client.VerifySignInOTPEmailWithResponse(context.Background(), gen.VerifySignInOTPEmailJSONRequestBody{Email: openapi_types.Email(email), Otp: code})
	if err != nil || v.JSON200 == nil || v.JSON200.Session == nil {
		t.Fatalf("sign in with the code: %v %d %s", err, v.StatusCode(), v.Body)
	}
	return v.JSON200.Session.AccessToken
}

// changeInSession sets a new password through Nhost's POST /v1/user/password, which asks for
// no current password, with the access token of a session.
func changeInSession(t *testing.T, h *servertest.Harness, access string) {
	t.Helper()
	res, err := h.Client.ChangeUserPasswordWithResponse(context.Background(),
		gen.ChangeUserPasswordJSONRequestBody{NewPassword: "recovered-password-1"}, servertest.Bearer(access))
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("set the password in the session: %v %d %s", err, res.StatusCode(), res.Body)
	}
}

// recoveryUser signs up a user whose address is verified (Authentication Zero resets only
// those) and signs them in through Nhost.
func recoveryUser(t *testing.T, h *servertest.Harness, email string) gen.Session {
	t.Helper()
	azSignUp(t, h, email)
	return signIn(t, h, email, azPw)
}

// TestPATsEndWithAccountRecovery: a thief who minted a personal access token with a stolen
// session kept the account after its owner reset the password. A reset by mailed ticket or code
// in every dialect, the Nhost flow that sets the password with the reset link's session, and an
// administrator's password set now revoke every PAT of the user, audited with the count.
func TestPATsEndWithAccountRecovery(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	for _, r := range recoveries {
		t.Run(r.name, func(t *testing.T) {
			email := "recover-" + r.name + "@example.com"
			s := recoveryUser(t, h, email)
			_, pat := mintPAT(t, h, s.AccessToken, "stolen")
			_, second := mintPAT(t, h, s.AccessToken, "also stolen")
			other := recoveryUser(t, h, "bystander-"+r.name+"@example.com")
			_, theirs := mintPAT(t, h, other.AccessToken, "bystander's")
			wantPAT(t, h, pat, true)

			action := r.run(t, h, email)
			wantPAT(t, h, pat, false)
			wantPAT(t, h, second, false)
			wantPAT(t, h, theirs, true)
			wantAuditCount(t, h, action, email, "pats_revoked", 2)
		})
	}
}

// TestPATsKeptOnResetWhenConfigured: with the revocation turned off, a reset leaves PATs alone
// and the audit event says nothing of them.
func TestPATsKeptOnResetWhenConfigured(t *testing.T) {
	h := servertest.Start(t, adminSecretOn, func(c *server.Config) { c.KeepPATsOnReset = true })
	for _, r := range recoveries {
		t.Run(r.name, func(t *testing.T) {
			email := "keep-" + r.name + "@example.com"
			s := recoveryUser(t, h, email)
			_, pat := mintPAT(t, h, s.AccessToken, "kept")
			action := r.run(t, h, email)
			wantPAT(t, h, pat, true)
			if d := auditOf(t, h, action, email); d["pats_revoked"] != nil {
				t.Fatalf("audit %s counts revoked PATs though none may be: %v", action, d)
			}
		})
	}
}

// TestPATsSurvivePasswordChange: changing the password with the current one (or, in Nhost, with
// an ordinary session) is not a recovery: the PATs stay.
func TestPATsSurvivePasswordChange(t *testing.T) {
	h := servertest.Start(t)
	for _, c := range []struct {
		name   string
		change func(t *testing.T, email string, s gen.Session)
	}{
		{"nhost", func(t *testing.T, _ string, s gen.Session) {
			res, err := h.Client.ChangeUserPasswordWithResponse(context.Background(),
				gen.ChangeUserPasswordJSONRequestBody{NewPassword: "changed-password-1"}, servertest.Bearer(s.AccessToken))
			if err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("change: %v %d %s", err, res.StatusCode(), res.Body)
			}
		}},
		{"wme", func(t *testing.T, email string, _ gen.Session) {
			u, err := h.Store.UserByEmail(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Store.SetUsername(context.Background(), u.ID, "changer"); err != nil {
				t.Fatal(err)
			}
			c := newWMEClient(t, h)
			tok, status, e := c.login("changer", azPw)
			if status != http.StatusOK {
				t.Fatalf("login: %d %v", status, e)
			}
			if status, e := c.post("/change-password", map[string]string{"access_token": tok.AccessToken, "previous_password": azPw, "proposed_password": "changed-password-1"}, nil); status != http.StatusOK {
				t.Fatalf("change-password: %d %v", status, e)
			}
		}},
		{"wme-in-a-mailed-session", func(t *testing.T, email string, _ gen.Session) {
			// WME's change asks for the current password: made with it, even in a session a
			// sign-in link opened, it is no recovery.
			access := magicLinkSession(t, h, email)
			c := newWMEClient(t, h)
			if status, e := c.post("/change-password", map[string]string{"access_token": access, "previous_password": azPw, "proposed_password": "changed-password-1"}, nil); status != http.StatusOK {
				t.Fatalf("change-password: %d %v", status, e)
			}
		}},
		{"authentication-zero", func(t *testing.T, email string, _ gen.Session) {
			_, tok := azSignIn(t, h, email, azPw)
			azDo(t, h, http.MethodPut, "/password", bearer(tok), azJSONBody, "current_password", azPw,
				"password", azNewPw, "password_confirmation", azNewPw).want(t, "change", http.StatusOK)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			email := "change-" + c.name + "@example.com"
			s := recoveryUser(t, h, email)
			_, pat := mintPAT(t, h, s.AccessToken, "kept")
			c.change(t, email, s)
			wantPAT(t, h, pat, true)
		})
	}
}

// TestZestyTokensEndWithCreatorsRecovery: the Zesty access tokens a user minted are API tokens
// like their PATs (the same table, minted with the user's session), so recovering the account
// revokes them too: a thief's token would otherwise keep the instance. The instance's Owner
// sees them gone.
func TestZestyTokensEndWithCreatorsRecovery(t *testing.T) {
	h := servertest.Start(t)
	owner, _ := zUser(t, h, "recover-zesty-owner@example.com")
	inst := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/instances", owner, `{"name":"Recover"}`))["ZUID"].(string)
	roles := zRoleZUIDs(t, h, owner, inst)
	created := zObj(t, zWant(t, h, http.StatusCreated, http.MethodPost, "/v1/tokens", owner, zJSON("name", "ci", "roleZUID", roles["admin"])))
	tok, tokZUID := created["token"].(string), created["ZUID"].(string)
	zWant(t, h, http.StatusOK, http.MethodGet, "/v1/instances/"+inst, tok, "")

	zWant(t, h, http.StatusOK, http.MethodPost, "/password/request", "", zJSON("email", "recover-zesty-owner@example.com"))
	ticket := linkOf(t, h.Mail.Next(t, "recover-zesty-owner@example.com")).ticket
	zWant(t, h, http.StatusOK, http.MethodPost, "/password/reset", "", zJSON("token", ticket, "password", "recovered-password-1"))

	zWant(t, h, http.StatusUnauthorized, http.MethodGet, "/v1/instances/"+inst, tok, "")
	wantAuditCount(t, h, "user.password_reset", "recover-zesty-owner@example.com", "access_tokens_revoked", 1)
	owner = zestyLoginAs(t, h, "recover-zesty-owner@example.com", "recovered-password-1")
	if list := zWant(t, h, http.StatusOK, http.MethodGet, "/v1/tokens", owner, "").([]any); len(list) != 0 {
		t.Fatalf("tokens after the reset: %v", list)
	}
	zWant(t, h, http.StatusNotFound, http.MethodGet, "/v1/tokens/"+tokZUID, owner, "")
}

// TestPATListAndDelete: users see their live PATs (never the token itself) and end them; another
// user's PAT, an unknown or ended one is 404 and changes nothing.
func TestPATListAndDelete(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	s := signUp(t, h, "lister@example.com", "lister-password-1")
	other := signUp(t, h, "other-lister@example.com", "lister-password-1")
	list := func(access string) []gen.PersonalAccessToken {
		t.Helper()
		res, err := h.Client.ListPATsWithResponse(ctx, servertest.Bearer(access))
		if err != nil || res.JSON200 == nil {
			t.Fatalf("list PATs: %v %d %s", err, res.StatusCode(), res.Body)
		}
		return res.JSON200.PersonalAccessTokens
	}
	del := func(access, id string) (int, []byte) {
		t.Helper()
		res, err := h.Client.DeletePATWithResponse(ctx, id, servertest.Bearer(access))
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode(), res.Body
	}

	if got := list(s.AccessToken); len(got) != 0 {
		t.Fatalf("PATs before any: %+v", got)
	}
	firstID, first := mintPAT(t, h, s.AccessToken, "deploy-bot")
	created := h.Clock.Now().Truncate(time.Microsecond) // the precision the store keeps
	h.Clock.Advance(time.Minute)
	md := map[string]any{"purpose": "backups"}
	res, err := h.Client.CreatePATWithResponse(ctx, gen.CreatePATJSONRequestBody{ExpiresAt: h.Clock.Now().Add(48 * time.Hour), Metadata: &md}, servertest.Bearer(s.AccessToken))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("create unnamed PAT: %v %s", err, res.Body)
	}
	secondID, second := res.JSON200.Id, res.JSON200.PersonalAccessToken
	theirID, theirs := mintPAT(t, h, other.AccessToken, "theirs")
	h.Clock.Advance(time.Minute)
	wantPAT(t, h, first, true)
	used := h.Clock.Now().Truncate(time.Microsecond)

	got := list(s.AccessToken)
	if len(got) != 2 || got[0].Id != secondID || got[1].Id != firstID {
		t.Fatalf("PATs = %+v, want the unnamed one then deploy-bot", got)
	}
	if got[1].Name != "deploy-bot" || got[1].Metadata["name"] != "deploy-bot" || !got[1].CreatedAt.Equal(created) ||
		!got[1].ExpiresAt.Equal(created.Add(24*time.Hour)) || got[1].LastUsedAt == nil || !got[1].LastUsedAt.Equal(used) {
		t.Errorf("deploy-bot listed as %+v", got[1])
	}
	if got[0].Name != "" || got[0].Metadata["purpose"] != "backups" || got[0].LastUsedAt != nil {
		t.Errorf("unnamed PAT listed as %+v", got[0])
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{first, second, theirs} {
		if strings.Contains(string(raw), secret) {
			t.Fatal("the list shows a token")
		}
	}

	// Someone else's PAT, an unknown id and a malformed one: nothing changes.
	h.NoWrites(t, func() {
		status, body := del(s.AccessToken, theirID)
		wantNhostError(t, status, body, http.StatusNotFound, "invalid-request")
		status, body = del(s.AccessToken, uuid.NewString())
		wantNhostError(t, status, body, http.StatusNotFound, "invalid-request")
		status, body = del(s.AccessToken, "not-a-uuid")
		wantNhostError(t, status, body, http.StatusBadRequest, "invalid-request")
		status, body = del("", firstID)
		wantNhostError(t, status, body, http.StatusUnauthorized, "invalid-request")
	})
	wantPAT(t, h, theirs, true)
	if got := list(other.AccessToken); len(got) != 1 || got[0].Id != theirID {
		t.Fatalf("their PATs = %+v", got)
	}

	// Ended: it signs in no more, is no longer listed, and ending it again is 404.
	if status, body := del(s.AccessToken, firstID); status != http.StatusOK || string(body) != "\"OK\"\n" {
		t.Fatalf("delete: %d %s", status, body)
	}
	wantPAT(t, h, first, false)
	if got := list(s.AccessToken); len(got) != 1 || got[0].Id != secondID {
		t.Fatalf("PATs after the delete = %+v", got)
	}
	h.NoWrites(t, func() {
		status, body := del(s.AccessToken, firstID)
		wantNhostError(t, status, body, http.StatusNotFound, "invalid-request")
	})
	ev, err := h.Store.AuditEvents(ctx, "pat.delete", 10)
	if err != nil || len(ev) != 1 || ev[0].Detail["token_id"] != firstID || ev[0].Detail["name"] != "deploy-bot" {
		t.Fatalf("pat.delete audit: %+v %v", ev, err)
	}

	// Expired PATs are no longer listed, nor ended.
	h.Clock.Advance(48 * time.Hour)
	s = signIn(t, h, "lister@example.com", "lister-password-1")
	if got := list(s.AccessToken); len(got) != 0 {
		t.Fatalf("PATs after they expired = %+v", got)
	}
	h.NoWrites(t, func() {
		status, body := del(s.AccessToken, secondID)
		wantNhostError(t, status, body, http.StatusNotFound, "invalid-request")
	})
}

// TestPATMaxTTL: a PAT may live at most the configured maximum (a year by default); an expiry
// beyond it is refused with a message that says the limit, and nothing is written. Refused, not
// shortened: the answer carries no expiry, so a client would never learn its token dies early.
func TestPATMaxTTL(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		opts []func(*server.Config)
		max  time.Duration
		says string
	}{
		{"default", nil, 365 * 24 * time.Hour, "365 days"},
		{"configured", []func(*server.Config){func(c *server.Config) { c.PATMaxTTL = 90 * time.Minute }}, 90 * time.Minute, "1h30m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := servertest.Start(t, c.opts...)
			s := signUp(t, h, "ttl@example.com", "ttl-password-1")
			create := func(expiresAt time.Time) *gen.CreatePATResult {
				t.Helper()
				res, err := h.Client.CreatePATWithResponse(ctx, gen.CreatePATJSONRequestBody{ExpiresAt: expiresAt}, servertest.Bearer(s.AccessToken))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			now := h.Clock.Now()
			h.NoWrites(t, func() {
				for _, at := range []time.Time{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), now.Add(c.max + time.Second)} {
					res := create(at)
					wantNhostError(t, res.StatusCode(), res.Body, http.StatusBadRequest, "invalid-request")
					if e := servertest.NhostError(t, res.Body); !strings.Contains(e.Message, "/expiresAt") || !strings.Contains(e.Message, c.says) {
						t.Errorf("expiresAt %s: message %q does not say the limit %s", at, e.Message, c.says)
					}
				}
			})
			if res := create(now.Add(c.max)); res.JSON200 == nil {
				t.Fatalf("expiry at the limit: %d %s", res.StatusCode(), res.Body)
			}
		})
	}
}

// patSession signs in with a PAT and refreshes once, as a client holding the PAT does, and
// returns the session as it stands after the refresh.
func patSession(t *testing.T, h *servertest.Harness, pat string) gen.Session {
	t.Helper()
	res, err := h.Client.SignInPATWithResponse(context.Background(), gen.SignInPATJSONRequestBody{PersonalAccessToken: pat})
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("PAT sign-in: %v %d %s", err, res.StatusCode(), res.Body)
	}
	return wantSessionLive(t, h, *res.JSON200.Session)
}

// wantSessionLive fails unless the session's access token reads the user and its refresh token
// refreshes; it returns the session as the refresh left it.
func wantSessionLive(t *testing.T, h *servertest.Harness, s gen.Session) gen.Session {
	t.Helper()
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusOK {
		t.Fatalf("GET /v1/user with the session's access token: %d %s, want 200", u.StatusCode(), u.Body)
	}
	r, err := refresh(t, h, s.RefreshToken)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("refresh: %v %d %s, want 200", err, r.StatusCode(), r.Body)
	}
	return *r.JSON200
}

// wantSessionEnded fails unless both the session's refresh token and its access token are
// refused.
func wantSessionEnded(t *testing.T, h *servertest.Harness, s gen.Session) {
	t.Helper()
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("GET /v1/user with the ended session's access token: %d %s, want 401", u.StatusCode(), u.Body)
	}
	r, err := refresh(t, h, s.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON401 == nil || r.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken {
		t.Errorf("refresh of the ended session: %d %s, want 401 invalid-refresh-token", r.StatusCode(), r.Body)
	}
}

// TestPATSessionsEndWithThePAT: a thief who exchanged a stolen PAT for a session kept refreshing
// it for the session's whole life after the owner deleted the PAT, or after a reset revoked it
// (sessions are otherwise kept across a reset when so configured). Ending a PAT now ends the
// sessions it opened, at once and only those: the owner's own session and the sessions of the
// owner's other PATs go on.
func TestPATSessionsEndWithThePAT(t *testing.T) {
	h := servertest.Start(t, adminSecretOn, func(c *server.Config) { c.KeepSessionsOnPasswordChange = true })
	ctx := context.Background()
	for _, c := range []struct {
		name string
		end  func(t *testing.T, email string, own gen.Session, id string)
		all  bool // every PAT of the user ends, not just the one given
	}{
		{"delete", func(t *testing.T, _ string, own gen.Session, id string) {
			res, err := h.Client.DeletePATWithResponse(ctx, id, servertest.Bearer(own.AccessToken))
			if err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("delete the PAT: %v %d %s", err, res.StatusCode(), res.Body)
			}
		}, false},
		{"admin-revoke", func(t *testing.T, _ string, own gen.Session, id string) {
			res, err := h.Client.AdminRevokeUserTokenWithResponse(ctx, uuid.MustParse(own.User.Id), uuid.MustParse(id), asAdmin)
			if err != nil || res.StatusCode() != http.StatusNoContent {
				t.Fatalf("admin revokes the PAT: %v %d %s", err, res.StatusCode(), res.Body)
			}
		}, false},
		{"reset-keeping-sessions", func(t *testing.T, email string, _ gen.Session, _ string) {
			requestReset(t, h, email)
			if status, body := resetWithTicket(t, h, linkOf(t, h.Mail.Next(t, email)).ticket, "recovered-password-1"); status != http.StatusOK {
				t.Fatalf("reset with the ticket: %d %s", status, body)
			}
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			email := "pat-sessions-" + c.name + "@example.com"
			own := recoveryUser(t, h, email)
			stolenID, stolen := mintPAT(t, h, own.AccessToken, "stolen")
			_, kept := mintPAT(t, h, own.AccessToken, "kept")
			thief := patSession(t, h, stolen)
			other := patSession(t, h, kept)

			c.end(t, email, own, stolenID)
			wantSessionEnded(t, h, thief)
			if c.all {
				wantSessionEnded(t, h, other)
			} else {
				wantSessionLive(t, h, other)
			}
			wantSessionLive(t, h, own)
		})
	}
}

// TestPATSessionsEndWhenThePATExpires: a session opened with a PAT lives no longer than the PAT.
// Refreshing slid its expiry 30 days past each refresh, so a token minted to die in a day kept
// its holder signed in for as long as they kept refreshing. The session now ends when the PAT
// expires, refreshed or not; a session opened otherwise still slides.
func TestPATSessionsEndWhenThePATExpires(t *testing.T) {
	h := servertest.Start(t)
	own := signUp(t, h, "pat-expiry@example.com", "pat-expiry-password-1")
	_, pat := mintPAT(t, h, own.AccessToken, "one day") // expires in 24 hours
	s := patSession(t, h, pat)
	for _, step := range []time.Duration{12 * time.Hour, 11*time.Hour + 50*time.Minute} { // to 23h50m
		h.Clock.Advance(step)
		own = refreshed(t, h, own)
		s = refreshed(t, h, s)
	}
	h.Clock.Advance(11 * time.Minute) // the PAT expired a minute ago; the access token lives on
	wantSessionEnded(t, h, s)
	wantSessionLive(t, h, own)
}

// refreshed refreshes a session and returns it as the refresh left it.
func refreshed(t *testing.T, h *servertest.Harness, s gen.Session) gen.Session {
	t.Helper()
	r, err := refresh(t, h, s.RefreshToken)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("refresh: %v %d %s, want 200", err, r.StatusCode(), r.Body)
	}
	return *r.JSON200
}
