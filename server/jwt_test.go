package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestMintMatchesJWTLibrary holds the hand-written access token to what jwt.Token.SignedString
// makes of the same claims as jwt.MapClaims: byte for byte where the signature is deterministic
// (HS256, EdDSA, RS256), the signed part and a valid signature where it is not (ES256); for
// namespaces that sort before, between and after the registered claims, one that is a registered
// claim's name, and strings that JSON escapes. Every minted token is then accepted as an access
// token, from the cache it was put in and by a full check.
func TestMintMatchesJWTLibrary(t *testing.T) {
	st := testdb.Open(t, testdb.Options{})
	configs := map[string]func(*Config){
		"ES256": func(c *Config) { c.JWT.Algorithm = AlgES256 },
		"RS256": func(c *Config) { c.JWT.Algorithm = AlgRS256 },
		"EdDSA": func(c *Config) { c.JWT.Algorithm = AlgEdDSA },
		"HS256": func(c *Config) {
			c.JWT.Secret = &HasuraJWTSecret{Type: "HS256", Key: strings.Repeat("k", 40), KID: "static<kid>"}
		},
	}
	users := []*store.User{
		{ID: uuid.New(), DefaultRole: "user"},
		{ID: uuid.New(), DefaultRole: "a<b>&c\"d", IsAnonymous: true},
	}
	rolesets := [][]string{nil, {}, {"me", "user"}, {"é", "<x>", `"q"`}}
	for alg, set := range configs {
		for _, ns := range []string{DefaultClaimsNamespace, "a", "iss-x", "sid", "zzz", "<ns>&"} {
			for _, issuer := range []string{"latchkey", "https://auth.example/<&>"} {
				cfg := DefaultConfig()
				cfg.PasswordHashParams = cheap // New hashes a dummy password: 19 MiB each time under -race
				cfg.JWT.ClaimsNamespace, cfg.JWT.Issuer = ns, issuer
				set(&cfg)
				s, err := New(context.Background(), Deps{Store: st, Config: cfg, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				for _, u := range users {
					for _, roles := range rolesets {
						what := alg + " ns=" + ns + " iss=" + issuer
						checkMint(t, what, s, u, roles, false)
						checkMint(t, what+" elevated", s, u, roles, true)
					}
				}
				if ns != DefaultClaimsNamespace {
					break // one namespace is enough to vary the issuer with
				}
			}
		}
	}
}

func checkMint(t *testing.T, what string, s *Server, u *store.User, roles []string, elevated bool) {
	t.Helper()
	sid := uuid.New()
	got, expiresIn, err := s.mintAccess(u, roles, sid, 15*time.Minute, elevated)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if expiresIn != 900 {
		t.Fatalf("%s: expires in %d", what, expiresIn)
	}
	var parsed jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(got, &parsed); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	iat, _ := parsed["iat"].(float64) // the library's token is made for the same second
	c := accessTokenClaims{sub: u.ID.String(), sid: sid.String(), iat: int64(iat), exp: int64(iat) + 900, iss: s.cfg.JWT.Issuer,
		ns: s.cfg.JWT.ClaimsNamespace, defaultRole: u.DefaultRole, allowed: roles, anonymous: u.IsAnonymous, elevated: elevated}
	want, err := s.sign(c.mapClaims())
	if err != nil {
		t.Fatal(err)
	}
	key := s.keys.signer()
	switch key.method.Alg() {
	case "ES256":
		if gotHead, wantHead := got[:strings.LastIndexByte(got, '.')], want[:strings.LastIndexByte(want, '.')]; gotHead != wantHead {
			t.Fatalf("%s: signed part\n ours    %s\n library %s", what, gotHead, wantHead)
		}
	default:
		if got != want {
			t.Fatalf("%s:\n ours    %s\n library %s", what, got, want)
		}
	}
	if c.reservedNamespace() {
		return // the namespace replaced a registered claim: never a usable token, made either way
	}
	// Accepted: from the cache, and by a full check of signature, issuer and expiry.
	for _, cached := range []bool{true, false} {
		if !cached {
			s.verified = newVerifiedTokens(16)
		}
		v, err := s.parseAccess(context.Background(), got)
		if err != nil || v.userID != u.ID || v.sessionID != sid || v.elevated != elevated {
			t.Fatalf("%s (cached %v): parse: %+v %v", what, cached, v, err)
		}
	}
}
