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

func anonymousOn(c *server.Config) { c.AnonymousUsers = true }

// TestAnonymousToRegular: an anonymous user signs in without credentials, becomes a regular
// account with deanonymize (keeping its id), and then signs in with the email and password.
func TestAnonymousToRegular(t *testing.T) {
	h := servertest.Start(t, anonymousOn)
	ctx := context.Background()
	name := "Guest"
	res, err := h.Client.SignInAnonymousWithResponse(ctx, gen.SignInAnonymousJSONRequestBody{DisplayName: &name})
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("anonymous sign-in: %v %s", err, res.Body)
	}
	anon := *res.JSON200.Session
	if !anon.User.IsAnonymous || anon.User.DefaultRole != "anonymous" || anon.User.DisplayName != "Guest" {
		t.Fatalf("anonymous user = %+v", anon.User)
	}
	if c := verifyOffline(t, h, anon.AccessToken); c[server.DefaultClaimsNamespace].(map[string]any)["x-hasura-user-is-anonymous"] != "true" {
		t.Fatalf("anonymous claim: %v", c)
	}

	pw := "correct-horse"
	dr, err := h.Client.DeanonymizeUserWithResponse(ctx, gen.DeanonymizeUserJSONRequestBody{
		SignInMethod: gen.UserDeanonymizeRequestSignInMethodEmailPassword,
		Email:        openapi_types.Email("was-anon@example.com"),
		Password:     &pw,
	}, servertest.Bearer(anon.AccessToken))
	if err != nil || dr.StatusCode() != http.StatusOK {
		t.Fatalf("deanonymize: %v %d %s", err, dr.StatusCode(), dr.Body)
	}
	// The session lives on; its next refresh carries the regular roles.
	r := must(refresh(t, h, anon.RefreshToken))(t)
	if r.JSON200 == nil || r.JSON200.User.IsAnonymous || r.JSON200.User.DefaultRole != "user" || r.JSON200.User.DisplayName != "Guest" {
		t.Fatalf("refresh after deanonymize: %d %s", r.StatusCode(), r.Body)
	}
	s := signIn(t, h, "was-anon@example.com", "correct-horse")
	if s.User.Id != anon.User.Id {
		t.Fatalf("signed in as %s, the anonymous user was %s", s.User.Id, anon.User.Id)
	}
}

// TestPersonalAccessTokens: a PAT is created once, signs in (opening its own session) until it
// expires, and is refused afterwards; its plaintext is stored nowhere.
func TestPersonalAccessTokens(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	s := signUp(t, h, "pat@example.com", "correct-horse")
	md := map[string]any{"name": "deploy-bot"}
	cr, err := h.Client.CreatePATWithResponse(ctx, gen.CreatePATJSONRequestBody{
		ExpiresAt: h.Clock.Now().Add(24 * time.Hour), Metadata: &md,
	}, servertest.Bearer(s.AccessToken))
	if err != nil || cr.JSON200 == nil {
		t.Fatalf("create PAT: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	pat := cr.JSON200.PersonalAccessToken

	in, err := h.Client.SignInPATWithResponse(ctx, gen.SignInPATJSONRequestBody{PersonalAccessToken: pat})
	if err != nil || in.JSON200 == nil || in.JSON200.Session == nil || in.JSON200.Session.User.Id != s.User.Id {
		t.Fatalf("sign in with PAT: %v %d %s", err, in.StatusCode(), in.Body)
	}
	if u := getUser(t, h, in.JSON200.Session.AccessToken); u.StatusCode() != http.StatusOK {
		t.Fatalf("PAT session access token: %d", u.StatusCode())
	}
	events := must(h.Store.AuditEvents(ctx, "pat.create", 10))(t)
	if len(events) != 1 || events[0].Detail["name"] != "deploy-bot" {
		t.Fatalf("pat.create audit = %+v", events)
	}
	// Its use is audited under its name.
	events = must(h.Store.AuditEvents(ctx, "session.sign_in", 10))(t) // sign-up's and the PAT's, at one clock instant
	var patSignIns int
	for _, e := range events {
		if e.Detail["method"] == "pat" {
			patSignIns++
			if e.Detail["token_name"] != "deploy-bot" {
				t.Errorf("PAT sign-in audited without the token's name: %+v", e.Detail)
			}
		}
	}
	if patSignIns != 1 {
		t.Fatalf("PAT sign-ins audited: %d of %+v", patSignIns, events)
	}

	h.Clock.Advance(25 * time.Hour)
	in = must(h.Client.SignInPATWithResponse(ctx, gen.SignInPATJSONRequestBody{PersonalAccessToken: pat}))(t)
	if in.JSON401 == nil || in.JSON401.Error != gen.ErrorResponseErrorInvalidPat {
		t.Fatalf("expired PAT: %d %s", in.StatusCode(), in.Body)
	}
}
