package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestNewPasswordRequiredAcrossDialects: a user an admin flagged gets no session from the Nhost
// or Zesty dialects, only a clear refusal; a password-reset link still signs them in (Nhost's
// reset flow) and setting the password clears the flag for every dialect.
func TestNewPasswordRequiredAcrossDialects(t *testing.T) {
	h := servertest.Start(t)
	email := "flagged@example.com"
	before := signUp(t, h, email, mailPassword)
	u := getUser(t, h, before.AccessToken)
	if err := h.Store.SetNewPasswordRequired(context.Background(), uuid.MustParse(string(u.JSON200.Id)), true); err != nil {
		t.Fatal(err)
	}

	res, err := h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: mailPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-request")
	if e := servertest.NhostError(t, res.Body); e.Message != "A new password is required: reset the password to continue" {
		t.Errorf("Nhost refusal message %q", e.Message)
	}
	if status, body := zestyLogin(t, h, "json", email, mailPassword); status != http.StatusForbidden || body["code"] != float64(http.StatusForbidden) {
		t.Errorf("Zesty login of a flagged user: %d %v", status, body)
	}
	// A wrong password is still just a wrong password: the flag is told only to the owner.
	res = must(h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: mailPassword + "x",
	}))(t)
	wantNhostError(t, res.StatusCode(), res.Body, http.StatusUnauthorized, "invalid-email-password")

	// The reset link opens the session whose next step sets the password.
	requestReset(t, h, email)
	wantRedirectSession(t, h, follow(t, h, linkOf(t, h.Mail.Next(t, email)).raw), "passwordReset")
	requestReset(t, h, email)
	ticket := linkOf(t, h.Mail.Next(t, email)).ticket
	if status, body := resetWithTicket(t, h, ticket, "a-chosen-password-1"); status != http.StatusOK {
		t.Fatalf("reset: %d %s", status, body)
	}
	signIn(t, h, email, "a-chosen-password-1")
	if status, body := zestyLogin(t, h, "form", email, "a-chosen-password-1"); status != http.StatusOK {
		t.Errorf("Zesty login after the reset: %d %v", status, body)
	}
}
