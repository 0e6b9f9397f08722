package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
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
	tok, _, err := jwt.NewParser().ParseUnverified(s2.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("read the new instance's token: %v", err)
	}
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
	set, err := a2.Client.GetJWKsWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set.JSON200 == nil || len(set.JSON200.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want the current and the previous", len(set.JSON200.Keys))
	}
}

// reSign signs the claims of a real access token again with method and key, keeping its kid and
// adding a jti so that the result is never the token the server minted (and cached as verified):
// a token made this way is checked afresh, and differs from a genuine one only in how it is signed.
func reSign(t *testing.T, token string, method jwt.SigningMethod, key any) string {
	t.Helper()
	claims := jwt.MapClaims{}
	orig, _, err := jwt.NewParser().ParseUnverified(token, claims)
	if err != nil {
		t.Fatalf("read the access token: %v", err)
	}
	claims["jti"] = "re-signed"
	tok := jwt.NewWithClaims(method, claims)
	if kid, ok := orig.Header["kid"]; ok {
		tok.Header["kid"] = kid
	}
	out, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return out
}

// wantAccepted and wantRefused send an access token to GET /v1/user.
func wantAccepted(t *testing.T, h *servertest.Harness, what, token string) {
	t.Helper()
	if u := getUser(t, h, token); u.StatusCode() != http.StatusOK {
		t.Fatalf("%s: GET /user %d %s, want 200", what, u.StatusCode(), u.Body)
	}
}

func wantRefused(t *testing.T, h *servertest.Harness, what, token string) {
	t.Helper()
	if u := getUser(t, h, token); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("%s: GET /user %d %s, want 401", what, u.StatusCode(), u.Body)
	}
}

// TestHasuraSharedSecret: with Hasura's HS256 JWT secret, tokens are signed with it, the JWKS is
// empty, and Latchkey accepts its own tokens. A token with the real claims (a live session's sid)
// signed with another secret is refused: only the signature can refuse it, which the same claims
// signed with the shared secret, accepted, show.
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
	wantAccepted(t, h, "the minted token", s.AccessToken)
	set, err := h.Client.GetJWKsWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set.JSON200 == nil || len(set.JSON200.Keys) != 0 {
		t.Fatalf("JWKS with a shared secret: %d %s", set.StatusCode(), set.Body)
	}
	wantAccepted(t, h, "real claims signed with the shared secret", reSign(t, s.AccessToken, jwt.SigningMethodHS256, []byte(secret)))
	wantRefused(t, h, "real claims signed with another secret", reSign(t, s.AccessToken, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40))))
}

// TestAlgorithmConfusion: a token is verified only with the algorithm of the key it names. Each
// case signs a live session's claims with the configured key under another algorithm that key
// can also compute (HS384 with the HS256 secret, RS384 with the RS256 key), which the library
// would verify if the server did not hold the algorithm to the key's; the same claims under the
// key's own algorithm, accepted, show that nothing else refuses them.
func TestAlgorithmConfusion(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hmacSecret := strings.Repeat("k", 40)
	for _, c := range []struct {
		name        string
		secret      *server.HasuraJWTSecret
		key         any
		own, forged jwt.SigningMethod
	}{
		{"hs384-under-hs256-secret", &server.HasuraJWTSecret{Type: "HS256", Key: hmacSecret},
			[]byte(hmacSecret), jwt.SigningMethodHS256, jwt.SigningMethodHS384},
		{"hs512-under-hs256-secret", &server.HasuraJWTSecret{Type: "HS256", Key: hmacSecret},
			[]byte(hmacSecret), jwt.SigningMethodHS256, jwt.SigningMethodHS512},
		{"rs384-under-rs256-key", &server.HasuraJWTSecret{Type: "RS256",
			Key:        string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
			SigningKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))},
			rsaKey, jwt.SigningMethodRS256, jwt.SigningMethodRS384},
	} {
		t.Run("case="+c.name, func(t *testing.T) {
			h := servertest.Start(t, func(cfg *server.Config) { cfg.JWT.Secret = c.secret })
			s := signUp(t, h, "conf@example.com", "correct-horse")
			wantAccepted(t, h, c.own.Alg()+" with the configured key", reSign(t, s.AccessToken, c.own, c.key))
			wantRefused(t, h, c.forged.Alg()+" with the configured "+c.own.Alg()+" key", reSign(t, s.AccessToken, c.forged, c.key))
		})
	}
	// The textbook confusion: with managed ES256 keys, an HS256 token keyed with the public key
	// (its PEM, what a naive verifier would hand HMAC) is refused. The key's type refuses it too,
	// so this case guards against a verifier that hands out key bytes, not the algorithm check.
	t.Run("case=hs256-keyed-with-es256-public-key", func(t *testing.T) {
		h := servertest.Start(t)
		s := signUp(t, h, "conf@example.com", "correct-horse")
		set, err := h.Client.GetJWKsWithResponse(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if set.JSON200 == nil || len(set.JSON200.Keys) != 1 {
			t.Fatalf("JWKS: %d %s, want one key", set.StatusCode(), set.Body)
		}
		pub, err := x509.MarshalPKIXPublicKey(publicKey(t, set.JSON200.Keys[0]))
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, h, "HS256 under an ES256 kid", reSign(t, s.AccessToken, jwt.SigningMethodHS256,
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
	})
}
