package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// signUp creates a user through the API and returns the session it got. In conceal mode
// sign-up opens no session (it would tell a free address from a taken one): then signUp takes
// the verification mail it sent and signs in with the password.
func signUp(t *testing.T, h *servertest.Harness, email, password string) gen.Session {
	t.Helper()
	res, err := h.Client.SignUpEmailPasswordWithResponse(context.Background(), gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 != nil && res.JSON200.Session == nil && server.Conceals(h.Server) {
		// Conceal mode opens no session at sign-up, and none at sign-in before the address is
		// verified: the mailed link verifies it.
		follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw)
		return signIn(t, h, email, password)
	}
	if res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("sign up %s: status %d, body %s", email, res.StatusCode(), res.Body)
	}
	return *res.JSON200.Session
}

func signIn(t *testing.T, h *servertest.Harness, email, password string) gen.Session {
	t.Helper()
	res, err := h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("sign in %s: status %d, body %s", email, res.StatusCode(), res.Body)
	}
	return *res.JSON200.Session
}

func refresh(t *testing.T, h *servertest.Harness, token string) (*gen.RefreshTokenResult, error) {
	t.Helper()
	return h.Client.RefreshTokenWithResponse(context.Background(), gen.RefreshTokenJSONRequestBody{RefreshToken: token})
}

func getUser(t *testing.T, h *servertest.Harness, access string) *gen.GetUserResult {
	t.Helper()
	res, err := h.Client.GetUserWithResponse(context.Background(), servertest.Bearer(access))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestNhostLifeCycle walks one account through the whole email/password life: sign up, sign in,
// read the user, refresh (rotation), change the password, sign out, and back in.
func TestNhostLifeCycle(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()

	s := signUp(t, h, "Ada@Example.com", "correct-horse")
	if s.User == nil || string(*s.User.Email) != "Ada@Example.com" || s.User.DefaultRole != "user" {
		t.Fatalf("sign-up session user = %+v", s.User)
	}
	if s.AccessTokenExpiresIn != 900 {
		t.Errorf("accessTokenExpiresIn = %d, want 900", s.AccessTokenExpiresIn)
	}

	// Addresses are compared case-insensitively.
	s2 := signIn(t, h, "ada@example.com", "correct-horse")
	if s2.User.Id != s.User.Id {
		t.Fatalf("signed in as %s, signed up as %s", s2.User.Id, s.User.Id)
	}

	u := getUser(t, h, s2.AccessToken)
	if u.JSON200 == nil || u.JSON200.Id != s.User.Id || len(u.JSON200.Roles) != 2 {
		t.Fatalf("GET /user: %d %s", u.StatusCode(), u.Body)
	}

	r, err := refresh(t, h, s2.RefreshToken)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("refresh: %v %d %s", err, r.StatusCode(), r.Body)
	}
	if r.JSON200.RefreshToken == s2.RefreshToken || r.JSON200.User == nil {
		t.Fatalf("refresh did not rotate or lacks the user: %s", r.Body)
	}
	next := *r.JSON200

	// Verify: bodiless with the bearer (as nhost-js sends it), and with the token in the body.
	code, body := h.Do(t, http.MethodPost, "/v1/token/verify",
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + next.AccessToken}, "")
	if code != http.StatusOK || string(body) != "\"OK\"\n" {
		t.Fatalf("verify (bearer): %d %q", code, body)
	}
	tok := next.AccessToken
	vr, err := h.Client.VerifyTokenWithResponse(ctx, gen.VerifyTokenJSONRequestBody{Token: &tok})
	if err != nil || vr.StatusCode() != http.StatusOK {
		t.Fatalf("verify (body): %v %d %s", err, vr.StatusCode(), vr.Body)
	}

	// Change the password from the first session: the second session (s2's chain) ends.
	cp, err := h.Client.ChangeUserPasswordWithResponse(ctx, gen.ChangeUserPasswordJSONRequestBody{NewPassword: "battery-staple"},
		servertest.Bearer(s.AccessToken))
	if err != nil || cp.StatusCode() != http.StatusOK {
		t.Fatalf("change password: %v %d %s", err, cp.StatusCode(), cp.Body)
	}
	if u := getUser(t, h, next.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("other session's access token after password change: %d, want 401", u.StatusCode())
	}
	if r := must(refresh(t, h, next.RefreshToken))(t); r.StatusCode() != http.StatusUnauthorized {
		t.Errorf("other session's refresh token after password change: %d, want 401", r.StatusCode())
	}
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusOK {
		t.Errorf("caller's own session after password change: %d, want 200", u.StatusCode())
	}

	// Old password fails, new one works.
	old := must(h.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{Email: "ada@example.com", Password: "correct-horse"}))(t)
	if old.JSON401 == nil || old.JSON401.Error != gen.ErrorResponseErrorInvalidEmailPassword {
		t.Errorf("old password: %d %s", old.StatusCode(), old.Body)
	}
	s3 := signIn(t, h, "ada@example.com", "battery-staple")

	// Sign out by refresh token ends that session for its access token too.
	so, err := h.Client.SignOutWithResponse(ctx, gen.SignOutJSONRequestBody{RefreshToken: &s3.RefreshToken})
	if err != nil || so.StatusCode() != http.StatusOK {
		t.Fatalf("sign out: %v %d %s", err, so.StatusCode(), so.Body)
	}
	if u := getUser(t, h, s3.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("access token after sign-out: %d, want 401", u.StatusCode())
	}
	if r := must(refresh(t, h, s3.RefreshToken))(t); r.JSON401 == nil || r.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken {
		t.Errorf("refresh after sign-out: %d %s", r.StatusCode(), r.Body)
	}

	// Sign out everywhere needs an access token and ends every session.
	s4 := signIn(t, h, "ada@example.com", "battery-staple")
	all := true
	so = must(h.Client.SignOutWithResponse(ctx, gen.SignOutJSONRequestBody{All: &all}, servertest.Bearer(s4.AccessToken)))(t)
	if so.StatusCode() != http.StatusOK {
		t.Fatalf("sign out all: %d %s", so.StatusCode(), so.Body)
	}
	for _, at := range []string{s.AccessToken, s4.AccessToken} {
		if u := getUser(t, h, at); u.StatusCode() != http.StatusUnauthorized {
			t.Errorf("access token after sign-out all: %d, want 401", u.StatusCode())
		}
	}
}

// TestAccessTokenExpiry: an access token stops working when it expires, and a refresh still works.
func TestAccessTokenExpiry(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "exp@example.com", "correct-horse")
	h.Clock.Advance(15*time.Minute + time.Second)
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("expired access token: %d, want 401", u.StatusCode())
	}
	r := must(refresh(t, h, s.RefreshToken))(t)
	if r.JSON200 == nil {
		t.Fatalf("refresh after access expiry: %d %s", r.StatusCode(), r.Body)
	}
	if u := getUser(t, h, r.JSON200.AccessToken); u.StatusCode() != http.StatusOK {
		t.Fatalf("fresh access token: %d %s", u.StatusCode(), u.Body)
	}
	// An idle session ends when its refresh token expires.
	h.Clock.Advance(30*24*time.Hour + time.Minute)
	if r := must(refresh(t, h, r.JSON200.RefreshToken))(t); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("refresh after 30 idle days: %d, want 401", r.StatusCode())
	}
}

// TestConfiguredLifetimes: TTLs come from configuration.
func TestConfiguredLifetimes(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.AccessTokenTTL = 5 * time.Minute })
	s := signUp(t, h, "ttl@example.com", "correct-horse")
	if s.AccessTokenExpiresIn != 300 {
		t.Fatalf("accessTokenExpiresIn = %d, want 300", s.AccessTokenExpiresIn)
	}
}

// must unwraps a call's (result, error) and fails t on the error, so that a test neither reads a
// nil result nor passes for want of one: r := must(h.Client.GetUserWithResponse(ctx))(t).
func must[R any](r R, err error) func(t *testing.T) R {
	return func(t *testing.T) R {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}
