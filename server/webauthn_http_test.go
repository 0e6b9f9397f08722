package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// webAuthnOn turns security keys on; the relying party is the test client URL's host.
func webAuthnOn(c *server.Config) { c.WebAuthn.Enabled = true }

func elevation(mode string) func(*server.Config) {
	return func(c *server.Config) { c.RequireElevatedClaim = mode }
}

// newAuthenticator is a software security key used from the test client URL's origin.
func newAuthenticator() *servertest.Authenticator {
	return servertest.NewAuthenticator(servertest.ClientURL)
}

// waSignUp creates an account with a passkey on auth and returns its session.
func waSignUp(t *testing.T, h *servertest.Harness, auth *servertest.Authenticator, email string) gen.Session {
	t.Helper()
	ctx := context.Background()
	begin, err := h.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || begin.JSON200 == nil {
		t.Fatalf("sign up with webauthn %s: %v %s", email, err, bodyOf(begin))
	}
	cred, err := auth.Create(*begin.JSON200)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := h.Client.VerifySignUpWebauthnWithResponse(ctx, gen.VerifySignUpWebauthnJSONRequestBody{Credential: cred})
	if err != nil || fin.JSON200 == nil || fin.JSON200.Session == nil {
		t.Fatalf("verify webauthn sign-up %s: %v %s", email, err, bodyOf(fin))
	}
	return *fin.JSON200.Session
}

// waSignInOptions begins a sign-in, with an address or (email "") for any passkey.
func waSignInOptions(t *testing.T, h *servertest.Harness, email string) gen.PublicKeyCredentialRequestOptions {
	t.Helper()
	body := gen.SignInWebauthnJSONRequestBody{}
	if email != "" {
		e := openapi_types.Email(email)
		body.Email = &e
	}
	res, err := h.Client.SignInWebauthnWithResponse(context.Background(), body)
	if err != nil || res.JSON200 == nil {
		t.Fatalf("begin webauthn sign-in: %v %s", err, bodyOf(res))
	}
	return *res.JSON200
}

func waVerifySignIn(t *testing.T, h *servertest.Harness, car protocol.CredentialAssertionResponse) *gen.VerifySignInWebauthnResult {
	t.Helper()
	res, err := h.Client.VerifySignInWebauthnWithResponse(context.Background(), gen.VerifySignInWebauthnJSONRequestBody{Credential: car})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waSignIn signs in with the authenticator (a passkey sign-in when email is "").
func waSignIn(t *testing.T, h *servertest.Harness, auth *servertest.Authenticator, email string) gen.Session {
	t.Helper()
	car, err := auth.Get(waSignInOptions(t, h, email))
	if err != nil {
		t.Fatal(err)
	}
	res := waVerifySignIn(t, h, car)
	if res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("verify webauthn sign-in: status %d, body %s", res.StatusCode(), res.Body)
	}
	return *res.JSON200.Session
}

func waElevateOptions(t *testing.T, h *servertest.Harness, access string) gen.PublicKeyCredentialRequestOptions {
	t.Helper()
	res, err := h.Client.ElevateWebauthnWithResponse(context.Background(), servertest.Bearer(access))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("begin elevation: %v %s", err, bodyOf(res))
	}
	return *res.JSON200
}

// waElevate elevates the session of access and returns the elevated session.
func waElevate(t *testing.T, h *servertest.Harness, auth *servertest.Authenticator, access string) gen.Session {
	t.Helper()
	car, err := auth.Get(waElevateOptions(t, h, access))
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Client.VerifyElevateWebauthnWithResponse(context.Background(), gen.VerifyElevateWebauthnJSONRequestBody{Credential: car}, servertest.Bearer(access))
	if err != nil || res.JSON200 == nil || res.JSON200.Session == nil {
		t.Fatalf("verify elevation: %v %s", err, bodyOf(res))
	}
	return *res.JSON200.Session
}

// waAddKey adds a key of auth to the user of access and returns the key's id.
func waAddKey(t *testing.T, h *servertest.Harness, auth *servertest.Authenticator, access, nickname string) string {
	t.Helper()
	ctx := context.Background()
	begin, err := h.Client.AddSecurityKeyWithResponse(ctx, servertest.Bearer(access))
	if err != nil || begin.JSON200 == nil {
		t.Fatalf("begin adding a key: %v %s", err, bodyOf(begin))
	}
	cred, err := auth.Create(*begin.JSON200)
	if err != nil {
		t.Fatal(err)
	}
	body := gen.VerifyAddSecurityKeyJSONRequestBody{Credential: cred}
	if nickname != "" {
		body.Nickname = &nickname
	}
	fin, err := h.Client.VerifyAddSecurityKeyWithResponse(ctx, body, servertest.Bearer(access))
	if err != nil || fin.JSON200 == nil {
		t.Fatalf("verify adding a key: %v %s", err, bodyOf(fin))
	}
	if nickname != "" && (fin.JSON200.Nickname == nil || *fin.JSON200.Nickname != nickname) {
		t.Errorf("added key's nickname = %v, want %q", fin.JSON200.Nickname, nickname)
	}
	return fin.JSON200.Id
}

func waKeys(t *testing.T, h *servertest.Harness, access string) []gen.SecurityKey {
	t.Helper()
	res, err := h.Client.ListSecurityKeysWithResponse(context.Background(), servertest.Bearer(access))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("list keys: %v %s", err, bodyOf(res))
	}
	return res.JSON200.SecurityKeys
}

// bodyOf is a result's body, for failure messages.
func bodyOf(res interface{ StatusCode() int }) string {
	if res == nil {
		return "<no response>"
	}
	b, _ := json.Marshal(res)
	return strings.TrimSpace(string(b))
}

// hasuraClaims decodes the Hasura claims of an access token (its signature is the server's
// concern, checked by every authenticated request).
func hasuraClaims(t *testing.T, access string) map[string]any {
	t.Helper()
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", access)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	ns, _ := claims[server.DefaultClaimsNamespace].(map[string]any)
	return ns
}

// waWantError checks a result's status and Nhost error code.
func waWantError(t *testing.T, what string, status int, body []byte, wantStatus int, wantCode gen.ErrorResponseError) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status = %d, want %d; body: %s", what, status, wantStatus, body)
		return
	}
	if e := servertest.NhostError(t, body); e.Error != wantCode {
		t.Errorf("%s: error = %q, want %q; body: %s", what, e.Error, wantCode, body)
	}
}

// TestWebAuthnFlow walks every WebAuthn operation's happy path: sign up with a passkey, sign in
// with an address and with the passkey alone, add a second key with a nickname, list, elevate
// (the access token carries x-hasura-auth-elevated), see the count in the admin API, remove a
// key.
func TestWebAuthnFlow(t *testing.T) {
	h := servertest.Start(t, webAuthnOn, adminSecretOn)
	ctx := context.Background()
	auth := newAuthenticator()
	const email = "passkey@example.com"

	first := waSignUp(t, h, auth, email)
	if first.User == nil || first.User.Email == nil || string(*first.User.Email) != email {
		t.Fatalf("sign-up session user = %+v", first.User)
	}
	userID := first.User.Id
	if got := hasuraClaims(t, first.AccessToken)["x-hasura-auth-elevated"]; got != nil {
		t.Errorf("sign-up access token is elevated: %v", got)
	}
	keys := waKeys(t, h, first.AccessToken)
	if len(keys) != 1 || keys[0].Nickname != nil || keys[0].LastUsedAt != nil {
		t.Fatalf("keys after sign-up = %+v", keys)
	}

	byEmail := waSignIn(t, h, auth, email)
	if byEmail.User == nil || byEmail.User.Id != userID {
		t.Fatalf("sign-in with address: user %+v, want %s", byEmail.User, userID)
	}
	opts := waSignInOptions(t, h, "")
	if len(opts.AllowedCredentials) != 0 {
		t.Errorf("passkey sign-in options list keys: %+v", opts.AllowedCredentials)
	}
	passkey := waSignIn(t, h, auth, "")
	if passkey.User == nil || passkey.User.Id != userID {
		t.Fatalf("passkey sign-in: user %+v, want %s", passkey.User, userID)
	}
	if keys := waKeys(t, h, passkey.AccessToken); keys[0].LastUsedAt == nil {
		t.Errorf("key's last use not recorded: %+v", keys[0])
	}

	h.Clock.Advance(time.Second) // the keys list in the order they were added
	second := newAuthenticator()
	secondID := waAddKey(t, h, second, passkey.AccessToken, "backup key")
	keys = waKeys(t, h, passkey.AccessToken)
	if len(keys) != 2 || keys[1].Id != secondID || keys[1].Nickname == nil || *keys[1].Nickname != "backup key" {
		t.Fatalf("keys after adding one = %+v", keys)
	}
	// The new key signs in too, named by the address.
	if s := waSignIn(t, h, second, email); s.User.Id != userID {
		t.Fatalf("sign-in with the added key: user %s", s.User.Id)
	}

	elevated := waElevate(t, h, second, passkey.AccessToken)
	if got := hasuraClaims(t, elevated.AccessToken)["x-hasura-auth-elevated"]; got != string(userID) {
		t.Errorf("elevated token's x-hasura-auth-elevated = %v, want %s", got, userID)
	}
	if res := getUser(t, h, elevated.AccessToken); res.JSON200 == nil {
		t.Fatalf("elevated token refused: %s", res.Body)
	}
	// A refreshed token is no longer elevated (Nhost: the claim lives as long as the token).
	ref, err := refresh(t, h, elevated.RefreshToken)
	if err != nil || ref.JSON200 == nil {
		t.Fatalf("refresh elevated session: %v %s", err, bodyOf(ref))
	}
	if got := hasuraClaims(t, ref.JSON200.AccessToken)["x-hasura-auth-elevated"]; got != nil {
		t.Errorf("refreshed token still elevated: %v", got)
	}

	adm, err := h.Client.AdminGetUserWithResponse(ctx, uuid.MustParse(string(userID)), asAdmin)
	if err != nil || adm.JSON200 == nil {
		t.Fatalf("admin get user: %v %s", err, bodyOf(adm))
	}
	if adm.JSON200.SecurityKeys == nil || *adm.JSON200.SecurityKeys != 2 {
		t.Errorf("admin securityKeys = %v, want 2", adm.JSON200.SecurityKeys)
	}

	del, err := h.Client.DeleteSecurityKeyWithResponse(ctx, secondID, servertest.Bearer(elevated.AccessToken))
	if err != nil || del.StatusCode() != http.StatusOK {
		t.Fatalf("delete key: %v %s", err, bodyOf(del))
	}
	if keys := waKeys(t, h, passkey.AccessToken); len(keys) != 1 || keys[0].Id == secondID {
		t.Fatalf("keys after deleting one = %+v", keys)
	}
	// The removed key signs in no more.
	car, err := second.Get(waSignInOptions(t, h, ""))
	if err != nil {
		t.Fatal(err)
	}
	h.NoWrites(t, func() {
		res := waVerifySignIn(t, h, car)
		waWantError(t, "sign-in with a removed key", res.StatusCode(), res.Body, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
	})
}

// TestWebAuthnTwoInstances begins each ceremony on one instance and finishes it on another:
// the ceremony state lives in the database.
func TestWebAuthnTwoInstances(t *testing.T) {
	a := servertest.Start(t, webAuthnOn)
	b := a.Another(t, webAuthnOn)
	ctx := context.Background()
	auth := newAuthenticator()
	const email = "two-instances@example.com"

	begin, err := a.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: email})
	if err != nil || begin.JSON200 == nil {
		t.Fatalf("begin sign-up on A: %v %s", err, bodyOf(begin))
	}
	cred, err := auth.Create(*begin.JSON200)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := b.Client.VerifySignUpWebauthnWithResponse(ctx, gen.VerifySignUpWebauthnJSONRequestBody{Credential: cred})
	if err != nil || fin.JSON200 == nil || fin.JSON200.Session == nil {
		t.Fatalf("finish sign-up on B: %v %s", err, bodyOf(fin))
	}
	access := fin.JSON200.Session.AccessToken

	car, err := auth.Get(waSignInOptions(t, b, ""))
	if err != nil {
		t.Fatal(err)
	}
	if res := waVerifySignIn(t, a, car); res.JSON200 == nil {
		t.Fatalf("finish sign-in begun on B on A: status %d %s", res.StatusCode(), res.Body)
	}
	// Spent on A, the same answer is refused on B.
	b.NoWrites(t, func() {
		res := waVerifySignIn(t, b, car)
		waWantError(t, "replay on B", res.StatusCode(), res.Body, http.StatusUnauthorized, gen.ErrorResponseErrorInvalidRequest)
	})

	car, err = auth.Get(waElevateOptions(t, a, access))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Client.VerifyElevateWebauthnWithResponse(ctx, gen.VerifyElevateWebauthnJSONRequestBody{Credential: car}, servertest.Bearer(access))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("finish elevation begun on A on B: %v %s", err, bodyOf(res))
	}
}

// waNegCase is one refused WebAuthn answer: setup returns the request to make; the request
// must get status and code and (beyond except) write nothing.
type waNegCase struct {
	name   string
	opts   []func(*server.Config)
	run    func(t *testing.T, h *servertest.Harness) (send func() (int, []byte))
	status int
	code   gen.ErrorResponseError
	except []string
}

// tamper decodes an answer's client data, lets edit change it, and encodes it again (the
// signature, made over the original, no longer matches).
func tamper(t *testing.T, clientData protocol.URLEncodedBase64, edit func(map[string]any)) protocol.URLEncodedBase64 {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(clientData, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebAuthnNegative refuses, in Nhost's shape and without writing anything, every answer that
// must not work.
func TestWebAuthnNegative(t *testing.T) {
	ctx := context.Background()
	const email = "neg@example.com"
	verifySignIn := func(h *servertest.Harness, car protocol.CredentialAssertionResponse) func() (int, []byte) {
		return func() (int, []byte) {
			res, err := h.Client.VerifySignInWebauthnWithResponse(ctx, gen.VerifySignInWebauthnJSONRequestBody{Credential: car})
			if err != nil {
				t.Fatal(err)
			}
			return res.StatusCode(), res.Body
		}
	}
	verifyElevate := func(h *servertest.Harness, car protocol.CredentialAssertionResponse, access string) func() (int, []byte) {
		return func() (int, []byte) {
			res, err := h.Client.VerifyElevateWebauthnWithResponse(ctx, gen.VerifyElevateWebauthnJSONRequestBody{Credential: car}, servertest.Bearer(access))
			if err != nil {
				t.Fatal(err)
			}
			return res.StatusCode(), res.Body
		}
	}
	// signInAnswer signs a user up and answers a fresh sign-in challenge (not yet sent).
	signInAnswer := func(t *testing.T, h *servertest.Harness) (*servertest.Authenticator, protocol.CredentialAssertionResponse) {
		auth := newAuthenticator()
		waSignUp(t, h, auth, email)
		car, err := auth.Get(waSignInOptions(t, h, email))
		if err != nil {
			t.Fatal(err)
		}
		return auth, car
	}
	cases := []waNegCase{
		{name: "disabled/sign-up", status: http.StatusConflict, code: gen.ErrorResponseErrorDisabledEndpoint,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				return func() (int, []byte) {
					res, err := h.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: email})
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "disabled/sign-in", status: http.StatusConflict, code: gen.ErrorResponseErrorDisabledEndpoint,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				return func() (int, []byte) {
					res, err := h.Client.SignInWebauthnWithResponse(ctx, gen.SignInWebauthnJSONRequestBody{})
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "disabled/elevate", status: http.StatusConflict, code: gen.ErrorResponseErrorDisabledEndpoint,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := signUp(t, h, email, "correct horse battery")
				return func() (int, []byte) {
					res, err := h.Client.ElevateWebauthnWithResponse(ctx, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "disabled/verify-sign-in", status: http.StatusConflict, code: gen.ErrorResponseErrorDisabledEndpoint,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				auth := newAuthenticator()
				cred, err := auth.Create(protocol.PublicKeyCredentialCreationOptions{
					RelyingParty: protocol.RelyingPartyEntity{ID: "app.latchkey.test"},
					User:         protocol.UserEntity{ID: "dXNlcg"}, Challenge: []byte("0123456789abcdef")})
				if err != nil || cred.ID == "" {
					t.Fatal(err)
				}
				car, err := auth.Get(protocol.PublicKeyCredentialRequestOptions{Challenge: []byte("fedcba9876543210")})
				if err != nil {
					t.Fatal(err)
				}
				return verifySignIn(h, car)
			}},
		{name: "sign-up/address-taken", opts: []func(*server.Config){webAuthnOn}, status: http.StatusConflict, code: gen.ErrorResponseErrorEmailAlreadyInUse,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				signUp(t, h, email, "correct horse battery")
				return func() (int, []byte) {
					res, err := h.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: email})
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "sign-up/wrong-origin", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				begin, err := h.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: email})
				if err != nil || begin.JSON200 == nil {
					t.Fatal(err, bodyOf(begin))
				}
				cred, err := servertest.NewAuthenticator("https://evil.example").Create(*begin.JSON200)
				if err != nil {
					t.Fatal(err)
				}
				return func() (int, []byte) {
					res, err := h.Client.VerifySignUpWebauthnWithResponse(ctx, gen.VerifySignUpWebauthnJSONRequestBody{Credential: cred})
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "sign-up/tampered-client-data", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				begin, err := h.Client.SignUpWebauthnWithResponse(ctx, gen.SignUpWebauthnJSONRequestBody{Email: email})
				if err != nil || begin.JSON200 == nil {
					t.Fatal(err, bodyOf(begin))
				}
				cred, err := newAuthenticator().Create(*begin.JSON200)
				if err != nil {
					t.Fatal(err)
				}
				// An assertion's client data passed off as a registration's.
				cred.AttestationResponse.ClientDataJSON = tamper(t, cred.AttestationResponse.ClientDataJSON, func(m map[string]any) { m["type"] = "webauthn.get" })
				return func() (int, []byte) {
					res, err := h.Client.VerifySignUpWebauthnWithResponse(ctx, gen.VerifySignUpWebauthnJSONRequestBody{Credential: cred})
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "sign-in/tampered-client-data", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				_, car := signInAnswer(t, h)
				car.AssertionResponse.ClientDataJSON = tamper(t, car.AssertionResponse.ClientDataJSON, func(m map[string]any) { m["crossOrigin"] = true })
				return verifySignIn(h, car)
			}},
		{name: "sign-in/tampered-signature", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				_, car := signInAnswer(t, h)
				sig := car.AssertionResponse.Signature
				sig[len(sig)-1] ^= 0x01
				return verifySignIn(h, car)
			}},
		{name: "sign-in/wrong-origin", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				auth, _ := signInAnswer(t, h)
				auth.Origin = "https://evil.example"
				car, err := auth.Get(waSignInOptions(t, h, email))
				if err != nil {
					t.Fatal(err)
				}
				return verifySignIn(h, car)
			}},
		{name: "sign-in/wrong-rp-id", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				auth, _ := signInAnswer(t, h)
				key := auth.Keys()[0]
				key.RPID = "evil.example"
				car, err := auth.GetWith(key, waSignInOptions(t, h, email))
				if err != nil {
					t.Fatal(err)
				}
				return verifySignIn(h, car)
			}},
		{name: "sign-in/replayed-challenge", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				_, car := signInAnswer(t, h)
				if res := waVerifySignIn(t, h, car); res.JSON200 == nil {
					t.Fatalf("first use: %d %s", res.StatusCode(), res.Body)
				}
				return verifySignIn(h, car)
			}},
		{name: "sign-in/expired-challenge", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				_, car := signInAnswer(t, h)
				h.Clock.Advance(5*time.Minute + time.Second)
				return verifySignIn(h, car)
			}},
		{name: "sign-in/counter-went-back", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			except: []string{"audit_events"}, // the possible clone is recorded
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				auth, car := signInAnswer(t, h)
				if res := waVerifySignIn(t, h, car); res.JSON200 == nil { // stored counter: 1
					t.Fatalf("first use: %d %s", res.StatusCode(), res.Body)
				}
				auth.Keys()[0].Counter = 0 // a copy of the key, used less: it signs with counter 1 again
				car, err := auth.Get(waSignInOptions(t, h, email))
				if err != nil {
					t.Fatal(err)
				}
				return verifySignIn(h, car)
			}},
		{name: "sign-in/challenge-of-another-kind", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				auth := newAuthenticator()
				s := waSignUp(t, h, auth, email)
				car, err := auth.Get(waElevateOptions(t, h, s.AccessToken)) // an elevation challenge
				if err != nil {
					t.Fatal(err)
				}
				return verifySignIn(h, car)
			}},
		{name: "elevate/another-users-challenge", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				mine := newAuthenticator()
				me := waSignUp(t, h, mine, email)
				theirs := newAuthenticator()
				them := waSignUp(t, h, theirs, "other@example.com")
				// Their elevation challenge, answered by their key, sent with my token.
				car, err := theirs.Get(waElevateOptions(t, h, them.AccessToken))
				if err != nil {
					t.Fatal(err)
				}
				return verifyElevate(h, car, me.AccessToken)
			}},
		{name: "elevate/another-users-key", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				mine := newAuthenticator()
				me := waSignUp(t, h, mine, email)
				theirs := newAuthenticator()
				waSignUp(t, h, theirs, "other@example.com")
				opts := waElevateOptions(t, h, me.AccessToken)
				car, err := theirs.GetWith(theirs.Keys()[0], opts)
				if err != nil {
					t.Fatal(err)
				}
				return verifyElevate(h, car, me.AccessToken)
			}},
		{name: "add/another-users-challenge", opts: []func(*server.Config){webAuthnOn}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				me := waSignUp(t, h, newAuthenticator(), email)
				them := waSignUp(t, h, newAuthenticator(), "other@example.com")
				begin, err := h.Client.AddSecurityKeyWithResponse(ctx, servertest.Bearer(them.AccessToken))
				if err != nil || begin.JSON200 == nil {
					t.Fatal(err, bodyOf(begin))
				}
				cred, err := newAuthenticator().Create(*begin.JSON200)
				if err != nil {
					t.Fatal(err)
				}
				return func() (int, []byte) {
					res, err := h.Client.VerifyAddSecurityKeyWithResponse(ctx, gen.VerifyAddSecurityKeyJSONRequestBody{Credential: cred}, servertest.Bearer(me.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "elevation-required/create-pat", opts: []func(*server.Config){webAuthnOn, elevation("required")}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorElevatedClaimRequired,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := waSignUp(t, h, newAuthenticator(), email)
				return createPATCall(t, h, s.AccessToken)
			}},
		{name: "elevation-recommended/change-password", opts: []func(*server.Config){webAuthnOn, elevation("recommended")}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorElevatedClaimRequired,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := waSignUp(t, h, newAuthenticator(), email)
				return func() (int, []byte) {
					res, err := h.Client.ChangeUserPasswordWithResponse(ctx, gen.ChangeUserPasswordJSONRequestBody{NewPassword: "another good password"}, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "elevation-recommended/change-email", opts: []func(*server.Config){webAuthnOn, elevation("recommended")}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorElevatedClaimRequired,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := waSignUp(t, h, newAuthenticator(), email)
				return func() (int, []byte) {
					res, err := h.Client.ChangeUserEmailWithResponse(ctx, gen.ChangeUserEmailJSONRequestBody{NewEmail: "new@example.com"}, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "elevation-required/add-second-key", opts: []func(*server.Config){webAuthnOn, elevation("required")}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorElevatedClaimRequired,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := waSignUp(t, h, newAuthenticator(), email)
				return func() (int, []byte) {
					res, err := h.Client.AddSecurityKeyWithResponse(ctx, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "elevation-required/delete-key", opts: []func(*server.Config){webAuthnOn, elevation("required")}, status: http.StatusUnauthorized, code: gen.ErrorResponseErrorElevatedClaimRequired,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := waSignUp(t, h, newAuthenticator(), email)
				id := waKeys(t, h, s.AccessToken)[0].Id
				return func() (int, []byte) {
					res, err := h.Client.DeleteSecurityKeyWithResponse(ctx, id, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "delete/another-users-key", opts: []func(*server.Config){webAuthnOn}, status: http.StatusNotFound, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				me := waSignUp(t, h, newAuthenticator(), email)
				them := waSignUp(t, h, newAuthenticator(), "other@example.com")
				id := waKeys(t, h, them.AccessToken)[0].Id
				return func() (int, []byte) {
					res, err := h.Client.DeleteSecurityKeyWithResponse(ctx, id, servertest.Bearer(me.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
		{name: "elevate/no-key", opts: []func(*server.Config){webAuthnOn}, status: http.StatusBadRequest, code: gen.ErrorResponseErrorInvalidRequest,
			run: func(t *testing.T, h *servertest.Harness) func() (int, []byte) {
				s := signUp(t, h, email, "correct horse battery")
				return func() (int, []byte) {
					res, err := h.Client.ElevateWebauthnWithResponse(ctx, servertest.Bearer(s.AccessToken))
					if err != nil {
						t.Fatal(err)
					}
					return res.StatusCode(), res.Body
				}
			}},
	}
	for _, c := range cases {
		t.Run("case="+c.name, func(t *testing.T) {
			h := servertest.Start(t, c.opts...)
			send := c.run(t, h)
			h.NoWrites(t, func() {
				status, body := send()
				waWantError(t, c.name, status, body, c.status, c.code)
			}, c.except...)
		})
	}
}

func createPATCall(t *testing.T, h *servertest.Harness, access string) func() (int, []byte) {
	return func() (int, []byte) {
		res, err := h.Client.CreatePATWithResponse(context.Background(), gen.CreatePATJSONRequestBody{ExpiresAt: h.Clock.Now().Add(24 * time.Hour)}, servertest.Bearer(access))
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode(), res.Body
	}
}

// TestElevationModes: what each LATCHKEY_REQUIRE_ELEVATED_CLAIM mode asks of a user with a
// security key and of one without, creating a personal access token.
func TestElevationModes(t *testing.T) {
	for _, tc := range []struct {
		mode                  string
		withoutKey, withKey   int // status of creating a PAT with a plain token
		elevatedAlwaysAllowed bool
	}{
		{"disabled", http.StatusOK, http.StatusOK, true},
		{"recommended", http.StatusOK, http.StatusUnauthorized, true},
		{"required", http.StatusUnauthorized, http.StatusUnauthorized, true},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			h := servertest.Start(t, webAuthnOn, elevation(tc.mode))
			plain := signUp(t, h, "plain@example.com", "correct horse battery")
			if status, body := createPATCall(t, h, plain.AccessToken)(); status != tc.withoutKey {
				t.Errorf("user without a key: status %d, want %d; %s", status, tc.withoutKey, body)
			}
			// A user without a key may add a first one in every mode (else none could elevate).
			auth := newAuthenticator()
			waAddKey(t, h, auth, plain.AccessToken, "first")
			if status, body := createPATCall(t, h, plain.AccessToken)(); status != tc.withKey {
				t.Errorf("user with a key: status %d, want %d; %s", status, tc.withKey, body)
			}
			elevated := waElevate(t, h, auth, plain.AccessToken)
			if status, body := createPATCall(t, h, elevated.AccessToken)(); status != http.StatusOK {
				t.Errorf("elevated: status %d, want 200; %s", status, body)
			}
		})
	}
}
