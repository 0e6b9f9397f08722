package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// testAdminSecret is the admin secret of the test servers that configure one.
const testAdminSecret = "test-admin-secret-0123456789-abcdefghij"

func adminSecretOn(c *server.Config) { c.AdminSecret = testAdminSecret }

// asAdmin sends the admin secret.
func asAdmin(_ context.Context, r *http.Request) error {
	r.Header.Set("X-Admin-Secret", testAdminSecret)
	return nil
}

// adminErr decodes an AdminError body and checks its status and code.
func adminErr(t *testing.T, status int, body []byte, wantStatus int, wantCode string) gen.AdminError {
	t.Helper()
	var e gen.AdminError
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		t.Fatalf("not an AdminError: %d %s", status, body)
	}
	if status != wantStatus || e.Status != status || string(e.Error) != wantCode {
		t.Errorf("admin error = %d %s (body status %d), want %d %s: %s", status, e.Error, e.Status, wantStatus, wantCode, body)
	}
	return e
}

// adminCreate creates a user with the admin secret and fails the test unless it worked.
func adminCreate(t *testing.T, h *servertest.Harness, body gen.AdminCreateUserRequest) gen.AdminCreateUserResponse {
	t.Helper()
	res, err := h.Client.AdminCreateUserWithResponse(context.Background(), body, asAdmin)
	if err != nil || res.JSON201 == nil {
		t.Fatalf("admin create %s: %v %d %s", body.Email, err, res.StatusCode(), res.Body)
	}
	return *res.JSON201
}

// adminUserToken creates a user holding roles and signs them in through Nhost.
func adminUserToken(t *testing.T, h *servertest.Harness, email string, roles ...string) gen.Session {
	t.Helper()
	adminCreate(t, h, gen.AdminCreateUserRequest{Email: openapi_types.Email(email), Password: ptr(mailPassword), Roles: &roles})
	return signIn(t, h, email, mailPassword)
}

// TestAdminPermissions: the admin API answers the admin secret and access tokens of users holding
// the admin role; anything else is 401 (no or wrong credentials) or 403 (no admin role), in the
// admin error shape, and writes nothing.
func TestAdminPermissions(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	admin := adminUserToken(t, h, "root@example.com", "admin", "user")
	plain := adminUserToken(t, h, "plain@example.com", "user", "me")

	list := func(editors ...gen.RequestEditorFn) *gen.AdminListUsersResult {
		t.Helper()
		res, err := h.Client.AdminListUsersWithResponse(ctx, &gen.AdminListUsersParams{}, editors...)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	header := func(k, v string) gen.RequestEditorFn {
		return func(_ context.Context, r *http.Request) error { r.Header.Set(k, v); return nil }
	}
	h.NoWrites(t, func() {
		for name, eds := range map[string][]gen.RequestEditorFn{
			"none":                 nil,
			"wrong-secret":         {header("X-Admin-Secret", testAdminSecret+"x")},
			"secret-prefix":        {header("X-Admin-Secret", testAdminSecret[:31])},
			"empty-secret":         {header("X-Admin-Secret", "")},
			"bearer-garbage":       {servertest.Bearer("garbage")},
			"secret-as-bearer":     {servertest.Bearer(testAdminSecret)},
			"refresh-as-bearer":    {servertest.Bearer(admin.RefreshToken)},
			"wrong-secret-garbage": {header("X-Admin-Secret", "nope"), servertest.Bearer("garbage")},
		} {
			res := list(eds...)
			if res.JSON401 == nil {
				t.Errorf("%s: %d %s, want 401", name, res.StatusCode(), res.Body)
				continue
			}
			adminErr(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "unauthenticated")
		}
		res := list(servertest.Bearer(plain.AccessToken))
		adminErr(t, res.StatusCode(), res.Body, http.StatusForbidden, "forbidden")
		// Mutations are refused the same way, before the body is looked at.
		dres, err := h.Client.AdminDisableUserWithResponse(ctx, uuid.MustParse(plain.User.Id), servertest.Bearer(plain.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		adminErr(t, dres.StatusCode(), dres.Body, http.StatusForbidden, "forbidden")
	})
	if res := list(asAdmin); res.JSON200 == nil || res.JSON200.Total != 2 {
		t.Errorf("with the secret: %d %s", res.StatusCode(), res.Body)
	}
	if res := list(servertest.Bearer(admin.AccessToken)); res.JSON200 == nil || res.JSON200.Total != 2 {
		t.Errorf("with an admin's access token: %d %s", res.StatusCode(), res.Body)
	}
	// An admin action with a token is recorded with the admin as its actor.
	dres, err := h.Client.AdminDisableUserWithResponse(ctx, uuid.MustParse(plain.User.Id), servertest.Bearer(admin.AccessToken))
	if err != nil || dres.JSON200 == nil || !dres.JSON200.Disabled {
		t.Fatalf("disable with an admin token: %v %d %s", err, dres.StatusCode(), dres.Body)
	}
	events := must(h.Store.AuditEvents(ctx, "admin.user_disable", 5))(t)
	if len(events) != 1 || events[0].ActorUserID == nil || events[0].ActorUserID.String() != admin.User.Id ||
		events[0].TargetUserID == nil || events[0].TargetUserID.String() != plain.User.Id {
		t.Errorf("admin.user_disable audit = %+v", events)
	}
}

// TestAdminSecretUnset: without a configured secret, no header value opens the admin API; the
// admin role still does.
func TestAdminSecretUnset(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	for _, v := range []string{"", testAdminSecret} {
		res, err := h.Client.AdminListUsersWithResponse(ctx, &gen.AdminListUsersParams{},
			func(_ context.Context, r *http.Request) error { r.Header.Set("X-Admin-Secret", v); return nil })
		if err != nil {
			t.Fatal(err)
		}
		adminErr(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "unauthenticated")
	}
	s := signUp(t, h, "grant@example.com", mailPassword)
	if err := h.Store.SetUserRoles(ctx, uuid.MustParse(s.User.Id), "user", []string{"admin", "user"}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Client.AdminListUsersWithResponse(ctx, &gen.AdminListUsersParams{}, servertest.Bearer(s.AccessToken))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("admin role without a secret: %v %d %s", err, res.StatusCode(), res.Body)
	}
}

// dialectTokens are a user's credentials from every dialect.
type dialectTokens struct {
	email        string
	nhost        gen.Session
	wmeRefresh   string
	zestySession string
	azToken      string
}

func tokensEverywhere(t *testing.T, h *servertest.Harness, email string) dialectTokens {
	t.Helper()
	d := dialectTokens{email: email, nhost: signUp(t, h, email, mailPassword)}
	tok, status, e := newWMEClient(t, h).login(email, mailPassword)
	if status != http.StatusOK || tok.RefreshToken == "" {
		t.Fatalf("WME login: %d %v", status, e)
	}
	d.wmeRefresh = tok.RefreshToken
	d.zestySession = zestyLoginAs(t, h, email, mailPassword)
	_, d.azToken = azSignIn(t, h, email, mailPassword)
	return d
}

// wantEverywhere checks that every credential works (live) or none does.
func (d dialectTokens) want(t *testing.T, h *servertest.Harness, live bool) {
	t.Helper()
	if u := getUser(t, h, d.nhost.AccessToken); (u.StatusCode() == http.StatusOK) != live || (!live && u.StatusCode() != http.StatusUnauthorized) {
		t.Errorf("%s: Nhost access token on GET /v1/user: %d, live=%v", d.email, u.StatusCode(), live)
	}
	if _, status := newWMEClient(t, h).refresh(d.email, d.wmeRefresh); (status == http.StatusOK) != live {
		t.Errorf("%s: WME refresh: %d, live=%v", d.email, status, live)
	}
	if status, _ := zestyCall(t, h, http.MethodGet, "/verify", d.zestySession); (status == http.StatusOK) != live || (!live && status != http.StatusUnauthorized) {
		t.Errorf("%s: Zesty /verify: %d, live=%v", d.email, status, live)
	}
	if a := azDo(t, h, http.MethodGet, "/sessions", bearer(d.azToken), nil); (a.status == http.StatusOK) != live || (!live && a.status != http.StatusUnauthorized) {
		t.Errorf("%s: Authentication Zero GET /sessions: %d, live=%v", d.email, a.status, live)
	}
	// Last, as it spends the Nhost refresh token.
	if r, err := refresh(t, h, d.nhost.RefreshToken); err != nil || (r.StatusCode() == http.StatusOK) != live || (!live && r.StatusCode() != http.StatusUnauthorized) {
		t.Errorf("%s: Nhost refresh: %v %d, live=%v", d.email, err, r.StatusCode(), live)
	}
}

// TestAdminEndsSessionsEverywhere: disabling a user, deleting one, changing their roles or default
// role, and setting their password end their sessions in every dialect at once.
func TestAdminEndsSessionsEverywhere(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		act  func(id openapi_types.UUID) (int, []byte)
	}{
		{"disable", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminDisableUserWithResponse(ctx, id, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
		{"delete", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminDeleteUserWithResponse(ctx, id, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
		{"roles", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminUpdateUserWithResponse(ctx, id, gen.AdminUpdateUserRequest{Roles: &[]string{"user", "me", "editor"}}, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
		{"default-role", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminUpdateUserWithResponse(ctx, id, gen.AdminUpdateUserRequest{DefaultRole: ptr("me")}, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
		{"password", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminSetUserPasswordWithResponse(ctx, id, gen.AdminSetPasswordRequest{Temporary: ptr(false)}, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
		{"revoke-all", func(id openapi_types.UUID) (int, []byte) {
			r, err := h.Client.AdminRevokeUserSessionsWithResponse(ctx, id, asAdmin)
			mustNot(t, err)
			return r.StatusCode(), r.Body
		}},
	} {
		t.Run("action="+tc.name, func(t *testing.T) {
			d := tokensEverywhere(t, h, tc.name+"@example.com")
			bystander := tokensEverywhere(t, h, tc.name+"-bystander@example.com")
			d.want(t, h, true)
			if status, body := tc.act(uuid.MustParse(d.nhost.User.Id)); status >= 300 {
				t.Fatalf("%s: %d %s", tc.name, status, body)
			}
			d.want(t, h, false)
			bystander.want(t, h, true)
		})
	}
	// Editing other fields ends nothing.
	d := tokensEverywhere(t, h, "profile@example.com")
	r, err := h.Client.AdminUpdateUserWithResponse(ctx, uuid.MustParse(d.nhost.User.Id), gen.AdminUpdateUserRequest{
		DisplayName: ptr("Pro File"), Metadata: &map[string]any{"plan": "gold"}, EmailVerified: ptr(true),
		Roles: &[]string{"me", "user"}, // the same roles: no change
	}, asAdmin)
	if err != nil || r.JSON200 == nil || r.JSON200.DisplayName != "Pro File" || r.JSON200.Metadata["plan"] != "gold" || !r.JSON200.EmailVerified {
		t.Fatalf("update profile: %v %d %s", err, r.StatusCode(), r.Body)
	}
	d.want(t, h, true)
}

func mustNot(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdminTemporaryPassword: a user created with a generated temporary password gets no Nhost
// session, while WME's login answers with the NEW_PASSWORD_REQUIRED challenge, whose answer
// sets the password and opens the session; the flag is then gone for every dialect.
func TestAdminTemporaryPassword(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	created := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "temp@example.com", Username: ptr("Temp.User"), TemporaryPassword: ptr(true)})
	if created.TemporaryPassword == nil || len(*created.TemporaryPassword) < 20 || !created.User.NewPasswordRequired {
		t.Fatalf("create with a temporary password: %+v", created)
	}
	if created.User.Username == nil || *created.User.Username != "temp.user" || created.User.DefaultRole != "user" ||
		!slices.Equal(created.User.Roles, []string{"me", "user"}) || created.User.Locale != "en" || created.User.DisplayName != "temp@example.com" {
		t.Errorf("defaults of the created user: %+v", created.User)
	}
	if strings.Contains(h.Logs.String(), *created.TemporaryPassword) {
		t.Error("the generated password is in the server log")
	}
	temp := *created.TemporaryPassword
	res, err := h.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{Email: "temp@example.com", Password: temp})
	mustNot(t, err)
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-request")

	c := newWMEClient(t, h)
	ch, status, e := c.login("temp.user", temp)
	if status != http.StatusOK || ch.ChallengeName != "NEW_PASSWORD_REQUIRED" || ch.Session == "" || ch.AccessToken != "" {
		t.Fatalf("WME login of a flagged user: %d %v %+v", status, e, ch)
	}
	var tok wmeTokens
	status, e = c.post("/new-password-required", map[string]string{"username": "temp.user", "session": ch.Session, "new_password": "my-own-password-42"}, &tok)
	if status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("answer the challenge: %d %v", status, e)
	}
	signIn(t, h, "temp@example.com", "my-own-password-42")

	// An admin-set temporary password flags the user again and ends the session.
	id := created.User.Id
	pr, err := h.Client.AdminSetUserPasswordWithResponse(ctx, id, gen.AdminSetPasswordRequest{Password: ptr("chosen-by-admin-1")}, asAdmin)
	if err != nil || pr.JSON200 == nil || pr.JSON200.Password != nil || !pr.JSON200.User.NewPasswordRequired {
		t.Fatalf("set a temporary password: %v %d %s", err, pr.StatusCode(), pr.Body)
	}
	if u := getUser(t, h, tok.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("WME access token after the admin set the password: %d", u.StatusCode())
	}
	res = must(h.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{Email: "temp@example.com", Password: "chosen-by-admin-1"}))(t)
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-request")
	// A permanent one clears the flag.
	pr, err = h.Client.AdminSetUserPasswordWithResponse(ctx, id, gen.AdminSetPasswordRequest{Temporary: ptr(false)}, asAdmin)
	if err != nil || pr.JSON200 == nil || pr.JSON200.Password == nil || pr.JSON200.User.NewPasswordRequired {
		t.Fatalf("set a generated permanent password: %v %d %s", err, pr.StatusCode(), pr.Body)
	}
	signIn(t, h, "temp@example.com", *pr.JSON200.Password)

	// A temporary flag with a chosen password: the password is not returned.
	withPw := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "temp2@example.com", Password: ptr("given-password-1"), TemporaryPassword: ptr(true)})
	if withPw.TemporaryPassword != nil || !withPw.User.NewPasswordRequired {
		t.Errorf("temporary flag with a password: %+v", withPw)
	}
}

// TestAdminUsers covers the user operations' answers: create (conflicts, rule breaks), list with
// filters and paging, get, update, disable and enable, delete, and not-found.
func TestAdminUsers(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	a := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "Alice@Example.com", Password: ptr(mailPassword),
		Roles: &[]string{"editor", "user"}, DefaultRole: ptr("editor"), EmailVerified: ptr(true), Metadata: &map[string]any{"team": "red"}})
	if a.TemporaryPassword != nil || a.User.NewPasswordRequired || a.User.DefaultRole != "editor" || !a.User.EmailVerified ||
		a.User.Metadata["team"] != "red" || !strings.HasPrefix(a.User.Zuid, "5-") {
		t.Errorf("created user: %+v", a)
	}
	signIn(t, h, "alice@example.com", mailPassword)
	h.Clock.Advance(time.Second)
	b := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "bob@example.com", Username: ptr("bob")})
	h.Clock.Advance(time.Second)
	c := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "carol@other.org"})

	// Refusals write nothing.
	h.NoWrites(t, func() {
		for name, tc := range map[string]struct {
			body       gen.AdminCreateUserRequest
			status     int
			code, fiel string
		}{
			"email-taken":               {gen.AdminCreateUserRequest{Email: "ALICE@example.com"}, 409, "conflict", "email"},
			"username-taken":            {gen.AdminCreateUserRequest{Email: "new@example.com", Username: ptr("BOB")}, 409, "conflict", "username"},
			"password-too-short":        {gen.AdminCreateUserRequest{Email: "new@example.com", Password: ptr("short")}, 400, "invalid-request", "password"},
			"default-role-not-in-roles": {gen.AdminCreateUserRequest{Email: "new@example.com", Roles: &[]string{"user"}, DefaultRole: ptr("admin")}, 400, "invalid-request", "defaultRole"},
			"no-roles":                  {gen.AdminCreateUserRequest{Email: "new@example.com", Roles: &[]string{}}, 400, "invalid-request", "roles"},
			"locale-not-allowed":        {gen.AdminCreateUserRequest{Email: "new@example.com", Locale: ptr("xx")}, 400, "invalid-request", "locale"},
		} {
			res, err := h.Client.AdminCreateUserWithResponse(ctx, tc.body, asAdmin)
			mustNot(t, err)
			e := adminErr(t, res.StatusCode(), res.Body, tc.status, tc.code)
			if e.Fields == nil || (*e.Fields)[tc.fiel] == "" {
				t.Errorf("%s: fields %v, want %q", name, e.Fields, tc.fiel)
			}
		}
	})

	listEmails := func(p gen.AdminListUsersParams) ([]string, int) {
		t.Helper()
		res, err := h.Client.AdminListUsersWithResponse(ctx, &p, asAdmin)
		if err != nil || res.JSON200 == nil {
			t.Fatalf("list %+v: %v %d %s", p, err, res.StatusCode(), res.Body)
		}
		var out []string
		for _, u := range res.JSON200.Users {
			out = append(out, *u.Email)
		}
		return out, res.JSON200.Total
	}
	for name, tc := range map[string]struct {
		p     gen.AdminListUsersParams
		want  []string
		total int
	}{
		"all-in-creation-order": {gen.AdminListUsersParams{}, []string{"Alice@Example.com", "bob@example.com", "carol@other.org"}, 3},
		"email-substring-case":  {gen.AdminListUsersParams{Email: ptr("EXAMPLE.")}, []string{"Alice@Example.com", "bob@example.com"}, 2},
		"email-like-wildcards":  {gen.AdminListUsersParams{Email: ptr("%")}, nil, 0},
		"role":                  {gen.AdminListUsersParams{Role: ptr("editor")}, []string{"Alice@Example.com"}, 1},
		"page":                  {gen.AdminListUsersParams{Limit: ptr(1), Offset: ptr(1)}, []string{"bob@example.com"}, 3},
		"enabled":               {gen.AdminListUsersParams{Disabled: ptr(false)}, []string{"Alice@Example.com", "bob@example.com", "carol@other.org"}, 3},
	} {
		got, total := listEmails(tc.p)
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%s: %v (total %d), want %v (total %d)", name, got, total, tc.want, tc.total)
		}
	}

	dr, err := h.Client.AdminDisableUserWithResponse(ctx, b.User.Id, asAdmin)
	if err != nil || dr.JSON200 == nil || !dr.JSON200.Disabled {
		t.Fatalf("disable: %v %d %s", err, dr.StatusCode(), dr.Body)
	}
	if got, _ := listEmails(gen.AdminListUsersParams{Disabled: ptr(true)}); !slices.Equal(got, []string{"bob@example.com"}) {
		t.Errorf("disabled users: %v", got)
	}
	er, err := h.Client.AdminEnableUserWithResponse(ctx, b.User.Id, asAdmin)
	if err != nil || er.JSON200 == nil || er.JSON200.Disabled {
		t.Fatalf("enable: %v %d %s", err, er.StatusCode(), er.Body)
	}

	gr, err := h.Client.AdminGetUserWithResponse(ctx, a.User.Id, asAdmin)
	if err != nil || gr.JSON200 == nil || gr.JSON200.LastSeenAt != nil && gr.JSON200.LastSeenAt.IsZero() || !slices.Equal(gr.JSON200.Roles, []string{"editor", "user"}) {
		t.Fatalf("get: %v %d %s", err, gr.StatusCode(), gr.Body)
	}
	ur, err := h.Client.AdminUpdateUserWithResponse(ctx, a.User.Id, gen.AdminUpdateUserRequest{DefaultRole: ptr("admin")}, asAdmin)
	mustNot(t, err)
	adminErr(t, ur.StatusCode(), ur.Body, http.StatusBadRequest, "invalid-request")
	ur, err = h.Client.AdminUpdateUserWithResponse(ctx, a.User.Id, gen.AdminUpdateUserRequest{Roles: &[]string{"admin", "user"}, DefaultRole: ptr("admin")}, asAdmin)
	if err != nil || ur.JSON200 == nil || ur.JSON200.DefaultRole != "admin" || !slices.Equal(ur.JSON200.Roles, []string{"admin", "user"}) {
		t.Fatalf("update roles: %v %d %s", err, ur.StatusCode(), ur.Body)
	}

	del, err := h.Client.AdminDeleteUserWithResponse(ctx, c.User.Id, asAdmin)
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %d %s", err, del.StatusCode(), del.Body)
	}
	// The deleted user, and ids that never existed, are 404 everywhere.
	h.NoWrites(t, func() {
		for _, id := range []openapi_types.UUID{c.User.Id, uuid.New()} {
			statuses := map[string]int{}
			r1 := must(h.Client.AdminGetUserWithResponse(ctx, id, asAdmin))(t)
			statuses["get"] = r1.StatusCode()
			r2 := must(h.Client.AdminDeleteUserWithResponse(ctx, id, asAdmin))(t)
			statuses["delete"] = r2.StatusCode()
			r3 := must(h.Client.AdminDisableUserWithResponse(ctx, id, asAdmin))(t)
			statuses["disable"] = r3.StatusCode()
			r4 := must(h.Client.AdminEnableUserWithResponse(ctx, id, asAdmin))(t)
			statuses["enable"] = r4.StatusCode()
			r5 := must(h.Client.AdminUpdateUserWithResponse(ctx, id, gen.AdminUpdateUserRequest{DisplayName: ptr("x")}, asAdmin))(t)
			statuses["update"] = r5.StatusCode()
			r6 := must(h.Client.AdminSetUserPasswordWithResponse(ctx, id, gen.AdminSetPasswordRequest{}, asAdmin))(t)
			statuses["password"] = r6.StatusCode()
			r7 := must(h.Client.AdminListUserSessionsWithResponse(ctx, id, asAdmin))(t)
			statuses["sessions"] = r7.StatusCode()
			r8 := must(h.Client.AdminRevokeUserSessionsWithResponse(ctx, id, asAdmin))(t)
			statuses["revoke-sessions"] = r8.StatusCode()
			r9 := must(h.Client.AdminListUserTokensWithResponse(ctx, id, asAdmin))(t)
			statuses["tokens"] = r9.StatusCode()
			r10 := must(h.Client.AdminRevokeUserTokenWithResponse(ctx, id, uuid.New(), asAdmin))(t)
			statuses["revoke-token"] = r10.StatusCode()
			r11 := must(h.Client.AdminRevokeUserSessionWithResponse(ctx, id, uuid.New(), asAdmin))(t)
			statuses["revoke-session"] = r11.StatusCode()
			for op, st := range statuses {
				if st != http.StatusNotFound {
					t.Errorf("%s of an unknown user %s: %d, want 404", op, id, st)
				}
			}
		}
	})
	if got, total := listEmails(gen.AdminListUsersParams{}); total != 2 || len(got) != 2 {
		t.Errorf("after the delete: %v", got)
	}
}

// TestAdminSessionsAndTokens: a user's sessions (live first) and API tokens are listed and revoked
// one by one; another user's session or token is not-found through this user.
func TestAdminSessionsAndTokens(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	s1 := signUp(t, h, "sess@example.com", mailPassword)
	h.Clock.Advance(time.Second)
	s2 := signIn(t, h, "sess@example.com", mailPassword)
	other := signUp(t, h, "other@example.com", mailPassword)
	id := uuid.MustParse(s1.User.Id)

	sessions := func() []gen.AdminSession {
		t.Helper()
		r, err := h.Client.AdminListUserSessionsWithResponse(ctx, id, asAdmin)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("list sessions: %v %d %s", err, r.StatusCode(), r.Body)
		}
		return r.JSON200.Sessions
	}
	ss := sessions()
	if len(ss) != 2 || ss[0].CreatedAt.Before(ss[1].CreatedAt) || ss[0].Method != "password" || ss[0].RevokedAt != nil {
		t.Fatalf("sessions: %+v", ss)
	}
	// End the older one: it moves after the live one.
	older := ss[1].Id
	r, err := h.Client.AdminRevokeUserSessionWithResponse(ctx, id, older, asAdmin)
	if err != nil || r.StatusCode() != http.StatusNoContent {
		t.Fatalf("revoke session: %v %d %s", err, r.StatusCode(), r.Body)
	}
	h.Clock.Advance(time.Second)
	signIn(t, h, "sess@example.com", mailPassword) // a third session, live
	ss = sessions()
	if len(ss) != 3 || ss[2].Id != older || ss[2].RevokedAt == nil || ss[0].RevokedAt != nil || ss[1].RevokedAt != nil {
		t.Fatalf("sessions after revoking one: %+v", ss)
	}
	if u := getUser(t, h, s1.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("revoked session's access token: %d", u.StatusCode())
	}
	if u := getUser(t, h, s2.AccessToken); u.StatusCode() != http.StatusOK {
		t.Errorf("other session's access token: %d", u.StatusCode())
	}
	// Ending it again is fine and records nothing new.
	before := must(h.Store.AuditEvents(ctx, "admin.session_revoke", 10))(t)
	r = must(h.Client.AdminRevokeUserSessionWithResponse(ctx, id, older, asAdmin))(t)
	after := must(h.Store.AuditEvents(ctx, "admin.session_revoke", 10))(t)
	if r.StatusCode() != http.StatusNoContent || len(before) != 1 || len(after) != 1 {
		t.Errorf("revoke again: %d, audit %d → %d", r.StatusCode(), len(before), len(after))
	}
	// Another user's session through this user: 404.
	otherSessions := must(h.Client.AdminListUserSessionsWithResponse(ctx, uuid.MustParse(other.User.Id), asAdmin))(t)
	r = must(h.Client.AdminRevokeUserSessionWithResponse(ctx, id, otherSessions.JSON200.Sessions[0].Id, asAdmin))(t)
	adminErr(t, r.StatusCode(), r.Body, http.StatusNotFound, "not-found")

	// API tokens.
	md := map[string]any{"name": "ci-bot"}
	cr, err := h.Client.CreatePATWithResponse(ctx, gen.CreatePATJSONRequestBody{ExpiresAt: h.Clock.Now().Add(time.Hour), Metadata: &md},
		servertest.Bearer(s2.AccessToken))
	if err != nil || cr.JSON200 == nil {
		t.Fatalf("create PAT: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	tr, err := h.Client.AdminListUserTokensWithResponse(ctx, id, asAdmin)
	if err != nil || tr.JSON200 == nil || len(tr.JSON200.Tokens) != 1 || tr.JSON200.Tokens[0].Name != "ci-bot" || tr.JSON200.Tokens[0].Kind != "pat" {
		t.Fatalf("list tokens: %v %d %s", err, tr.StatusCode(), tr.Body)
	}
	if strings.Contains(string(tr.Body), cr.JSON200.PersonalAccessToken) {
		t.Error("the token listing shows the token's value")
	}
	tokID := tr.JSON200.Tokens[0].Id
	rt := must(h.Client.AdminRevokeUserTokenWithResponse(ctx, uuid.MustParse(other.User.Id), tokID, asAdmin))(t)
	adminErr(t, rt.StatusCode(), rt.Body, http.StatusNotFound, "not-found")
	rt, err = h.Client.AdminRevokeUserTokenWithResponse(ctx, id, tokID, asAdmin)
	if err != nil || rt.StatusCode() != http.StatusNoContent {
		t.Fatalf("revoke token: %v %d %s", err, rt.StatusCode(), rt.Body)
	}
	in := must(h.Client.SignInPATWithResponse(ctx, gen.SignInPATJSONRequestBody{PersonalAccessToken: cr.JSON200.PersonalAccessToken}))(t)
	if in.StatusCode() != http.StatusUnauthorized {
		t.Errorf("revoked PAT signs in: %d", in.StatusCode())
	}
	tr = must(h.Client.AdminListUserTokensWithResponse(ctx, id, asAdmin))(t)
	if tr.JSON200 == nil || tr.JSON200.Tokens[0].RevokedAt == nil {
		t.Errorf("revoked token listed as %s", tr.Body)
	}
}

// TestAdminAudit: admin actions and the flows of every dialect land in the audit log, which
// filters by actor, token name, target, action and time, and pages with its cursor.
func TestAdminAudit(t *testing.T) {
	h := servertest.Start(t, adminSecretOn)
	ctx := context.Background()
	start := h.Clock.Now()
	admin := adminUserToken(t, h, "auditor@example.com", "admin", "user")
	h.Clock.Advance(time.Minute)
	mid := h.Clock.Now()
	u := signUp(t, h, "audited@example.com", mailPassword)
	uid := uuid.MustParse(u.User.Id)
	res := must(h.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{Email: "audited@example.com", Password: "wrong-password-9"}))(t)
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-email-password")
	h.Clock.Advance(time.Second) // events of one instant are ordered by id: keep these apart
	if _, status, _ := newWMEClient(t, h).login("audited@example.com", mailPassword); status != http.StatusOK {
		t.Fatalf("WME login: %d", status)
	}
	h.Clock.Advance(time.Second)
	zestyLoginAs(t, h, "audited@example.com", mailPassword)
	h.Clock.Advance(time.Second)
	if r, err := h.Client.AdminDisableUserWithResponse(ctx, uid, servertest.Bearer(admin.AccessToken)); err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("disable: %v", err)
	}
	h.Clock.Advance(time.Second)
	if r, err := h.Client.AdminEnableUserWithResponse(ctx, uid, asAdmin); err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("enable: %v", err)
	}

	list := func(p gen.AdminListAuditEventsParams) gen.AdminAuditEventList {
		t.Helper()
		r, err := h.Client.AdminListAuditEventsWithResponse(ctx, &p, asAdmin)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("audit %+v: %v %d %s", p, err, r.StatusCode(), r.Body)
		}
		return *r.JSON200
	}
	actions := func(l gen.AdminAuditEventList) []string {
		var out []string
		for _, e := range l.Events {
			out = append(out, e.Action)
		}
		return out
	}
	all := actions(list(gen.AdminListAuditEventsParams{Limit: ptr(200)}))
	for _, want := range []string{"admin.user_create", "user.sign_up", "session.sign_in", "session.sign_in_failed", "admin.user_disable", "admin.user_enable"} {
		if !slices.Contains(all, want) {
			t.Errorf("audit log lacks %s: %v", want, all)
		}
	}
	if all[0] != "admin.user_enable" {
		t.Errorf("newest first: %v", all)
	}
	if got := actions(list(gen.AdminListAuditEventsParams{ActorTokenName: ptr("admin-secret")})); !slices.Equal(got, []string{"admin.user_enable", "admin.user_create"}) {
		t.Errorf("actorTokenName=admin-secret: %v", got)
	}
	adminID := uuid.MustParse(admin.User.Id)
	byAdmin := list(gen.AdminListAuditEventsParams{ActorUserId: &adminID, Action: ptr("admin.user_disable")})
	if len(byAdmin.Events) != 1 || *byAdmin.Events[0].TargetUserId != uid {
		t.Errorf("actorUserId + action: %+v", byAdmin)
	}
	signIns := list(gen.AdminListAuditEventsParams{TargetUserId: &uid, Action: ptr("session.sign_in")})
	if len(signIns.Events) != 3 { // Nhost sign-up, WME, Zesty
		t.Errorf("sign-ins of the user: %v", actions(signIns))
	}
	if got := list(gen.AdminListAuditEventsParams{Until: &mid}); len(got.Events) != 2 { // the admin's creation and sign-in
		t.Errorf("until: %v", actions(got))
	}
	if got := list(gen.AdminListAuditEventsParams{Since: &mid, TargetUserId: &adminID}); len(got.Events) != 0 {
		t.Errorf("since: %v", actions(got))
	}
	// Since is inclusive: from the first event's instant, every event.
	if got := actions(list(gen.AdminListAuditEventsParams{Since: &start, Limit: ptr(200)})); !slices.Equal(got, all) {
		t.Errorf("since the start: %v, want %v", got, all)
	}
	// Paging walks every event once, newest first.
	var paged []string
	p := gen.AdminListAuditEventsParams{Limit: ptr(2)}
	for range 20 {
		page := list(p)
		paged = append(paged, actions(page)...)
		if page.Next == nil {
			break
		}
		p.Cursor = page.Next
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged %v, want %v", paged, all)
	}
	r := must(h.Client.AdminListAuditEventsWithResponse(ctx, &gen.AdminListAuditEventsParams{Cursor: ptr("bm90LWEtY3Vyc29y")}, asAdmin))(t)
	adminErr(t, r.StatusCode(), r.Body, http.StatusBadRequest, "invalid-request")
}
