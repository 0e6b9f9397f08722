package server_test

import (
	"context"
	"net/http"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestRedirectGlobOverHTTP: with LATCHKEY_ALLOWED_REDIRECT_URLS=http://localhost:3000/** a
// magic link may lead to any path of that origin (the rule was once kept as the literal path
// "/**", so none did), and the usual bypasses of that origin are still refused, writing nothing.
func TestRedirectGlobOverHTTP(t *testing.T) {
	h := servertest.Start(t, func(c *server.Config) { c.AllowedRedirectURLs = []string{"http://localhost:3000/**"} })
	email := "glob@example.com"
	redirect := "http://localhost:3000/deep/path?from=mail"
	res, err := h.Client.SignInPasswordlessEmailWithResponse(context.Background(), gen.SignInPasswordlessEmailJSONRequestBody{
		Email: openapi_types.Email(email), Options: &gen.SignUpOptions{RedirectTo: &redirect}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK {
		t.Fatalf("passwordless with redirectTo %s: %d %s, want 200", redirect, res.StatusCode(), res.Body)
	}
	l := linkOf(t, h.Mail.Next(t, email))
	to := follow(t, h, l.raw)
	if to.Host != "localhost:3000" || to.Path != "/deep/path" || to.Query().Get("refreshToken") == "" {
		t.Fatalf("redirected to %s, want http://localhost:3000/deep/path with a session", to)
	}

	for _, bad := range []string{
		"http://localhost:3000.evil.com/",
		"http://localhost:3000@evil.com/",
		"http://evil.com/#@localhost:3000/",
		"http://localhost:3001/",
		"https://localhost:3000/",
		"http://localhost.evil.com:3000/",
		"http://localhost:3000/a/../../x",
	} {
		var res *gen.SignInPasswordlessEmailResult
		h.NoWrites(t, func() {
			res, err = h.Client.SignInPasswordlessEmailWithResponse(context.Background(), gen.SignInPasswordlessEmailJSONRequestBody{
				Email: openapi_types.Email(email), Options: &gen.SignUpOptions{RedirectTo: &bad}})
		})
		if err != nil {
			t.Fatal(err)
		}
		// A target that is not even an absolute URI is refused by the contract's format check.
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil ||
			res.JSON400.Error != gen.ErrorResponseErrorRedirectToNotAllowed && res.JSON400.Error != gen.ErrorResponseErrorInvalidRequest {
			t.Errorf("redirectTo %s: %d %s, want 400 redirectTo-not-allowed", bad, res.StatusCode(), res.Body)
		}
	}
}
