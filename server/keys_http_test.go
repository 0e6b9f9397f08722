package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// publicKey rebuilds a public key from a JWK, as a third party verifying tokens offline would.
func publicKey(t *testing.T, k gen.JWK) any {
	t.Helper()
	b := func(s *string) []byte {
		out, err := base64.RawURLEncoding.DecodeString(*s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	switch k.Kty {
	case "EC":
		pk, err := ecdsa.ParseUncompressedPublicKey(ellipticP256(), append(append([]byte{4}, b(k.X)...), b(k.Y)...))
		if err != nil {
			t.Fatal(err)
		}
		return pk
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(b(k.N)), E: int(new(big.Int).SetBytes(b(k.E)).Int64())}
	case "OKP":
		return ed25519.PublicKey(b(k.X))
	}
	t.Fatalf("unknown kty %s", k.Kty)
	return nil
}

// verifyOffline checks an access token against the JWKS alone and returns its claims.
func verifyOffline(t *testing.T, h *servertest.Harness, token string) jwt.MapClaims {
	t.Helper()
	set, err := h.Client.GetJWKsWithResponse(context.Background())
	if err != nil || set.JSON200 == nil {
		t.Fatalf("jwks: %v", err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		for _, k := range set.JSON200.Keys {
			if k.Kid == tok.Header["kid"] {
				return publicKey(t, k), nil
			}
		}
		return nil, jwt.ErrTokenUnverifiable
	}, jwt.WithTimeFunc(h.Clock.Now))
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	return claims
}

// TestAccessTokenClaims: the token carries sub, sid, iat, exp, iss and the Hasura claims, and
// verifies offline with the JWKS, for each managed algorithm.
func TestAccessTokenClaims(t *testing.T) {
	for _, alg := range server.ManagedAlgorithms {
		t.Run("alg="+alg, func(t *testing.T) {
			h := servertest.Start(t, func(c *server.Config) { c.JWT.Algorithm = alg })
			s := signUp(t, h, "claims@example.com", "correct-horse")
			c := verifyOffline(t, h, s.AccessToken)
			hc, _ := c[server.DefaultClaimsNamespace].(map[string]any)
			if c["sub"] != s.User.Id || c["sid"] == nil || c["iss"] != "latchkey" || c["iat"] == nil || c["exp"] == nil ||
				hc["x-hasura-user-id"] != s.User.Id || hc["x-hasura-default-role"] != "user" ||
				hc["x-hasura-user-is-anonymous"] != "false" || len(hc["x-hasura-allowed-roles"].([]any)) != 2 {
				t.Fatalf("claims: %v", c)
			}
		})
	}
}

// TestKeyRotationAcrossInstances: a key rotated through one instance's database signs there at
// once, verifies on the other instance at once (unknown kid → reload), and the JWKS keeps the
// previous key so earlier tokens stay valid.
func TestKeyRotationAcrossInstances(t *testing.T) {
	a := servertest.Start(t)
	b := a.Another(t)
	s := signUp(t, a, "rot@example.com", "correct-horse")

	a.Clock.Advance(time.Second) // keys are ordered by creation time
	kid, err := server.RotateSigningKey(context.Background(), a.Store, server.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	a2 := a.Another(t) // a fresh instance loads the new key at start
	s2 := signIn(t, a2, "rot@example.com", "correct-horse")
	tok, _, _ := jwt.NewParser().ParseUnverified(s2.AccessToken, jwt.MapClaims{})
	if tok.Header["kid"] != kid {
		t.Fatalf("new instance signs with %v, want the rotated key %s", tok.Header["kid"], kid)
	}
	for _, h := range []*servertest.Harness{a, b} { // old instances: unknown kid → reload → accepted
		if u := getUser(t, h, s2.AccessToken); u.StatusCode() != http.StatusOK {
			t.Fatalf("token of the rotated key on another instance: %d %s", u.StatusCode(), u.Body)
		}
		if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusOK {
			t.Fatalf("token of the previous key: %d %s", u.StatusCode(), u.Body)
		}
	}
	set, _ := a2.Client.GetJWKsWithResponse(context.Background())
	if len(set.JSON200.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want the current and the previous", len(set.JSON200.Keys))
	}
}

// TestHasuraSharedSecret: with Hasura's HS256 JWT secret, tokens are signed with it, the JWKS is
// empty, and Latchkey accepts its own tokens.
func TestHasuraSharedSecret(t *testing.T) {
	secret := strings.Repeat("k", 40)
	h := servertest.Start(t, func(c *server.Config) {
		c.JWT.Secret = &server.HasuraJWTSecret{Type: "HS256", Key: secret}
	})
	s := signUp(t, h, "hs@example.com", "correct-horse")
	if _, err := jwt.Parse(s.AccessToken, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(h.Clock.Now)); err != nil {
		t.Fatalf("token does not verify with the shared secret: %v", err)
	}
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusOK {
		t.Fatalf("GET /user: %d", u.StatusCode())
	}
	set, _ := h.Client.GetJWKsWithResponse(context.Background())
	if set.JSON200 == nil || len(set.JSON200.Keys) != 0 {
		t.Fatalf("JWKS with a shared secret: %s", set.Body)
	}
	// A token signed with another HMAC secret is refused.
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": s.User.Id, "sid": "00000000-0000-4000-8000-000000000000", "iss": "latchkey",
		"iat": h.Clock.Now().Unix(), "exp": h.Clock.Now().Add(time.Minute).Unix(),
	}).SignedString([]byte(strings.Repeat("x", 40)))
	if u := getUser(t, h, forged); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("forged HS256 token: %d", u.StatusCode())
	}
}

// TestAlgorithmConfusion: with ES256 keys, an HS256 token "signed" with the public key is refused.
func TestAlgorithmConfusion(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "conf@example.com", "correct-horse")
	set, _ := h.Client.GetJWKsWithResponse(context.Background())
	k := set.JSON200.Keys[0]
	claims := verifyOffline(t, h, s.AccessToken)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = k.Kid
	forged, _ := tok.SignedString([]byte(*k.X + *k.Y))
	if u := getUser(t, h, forged); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("HS256 token under an ES256 kid: %d, want 401", u.StatusCode())
	}
}
