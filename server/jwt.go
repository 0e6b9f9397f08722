package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// DefaultClaimsNamespace is where Hasura looks for its claims.
const DefaultClaimsNamespace = "https://hasura.io/jwt/claims"

// JWTConfig says how access tokens are signed.
type JWTConfig struct {
	// Algorithm of the keys Latchkey generates, stores and rotates: ES256 (default), RS256 or EdDSA.
	Algorithm string
	// Secret, when set, replaces managed keys with a fixed key shared with Hasura.
	Secret *HasuraJWTSecret
	// Issuer is the iss claim.
	Issuer string
	// ClaimsNamespace is the claim that holds the x-hasura-* claims.
	ClaimsNamespace string
}

// accessClaims are the claims Latchkey reads back from its own access tokens.
type accessClaims struct {
	jwt.RegisteredClaims
	SID string `json:"sid"`
	// TokenUse is set on every token Latchkey signs that is not an access token (WME's id
	// tokens: "id"). Such a token names a user but grants nothing, so it never authenticates.
	TokenUse string `json:"token_use"`
}

// mintAccessToken signs an access token living ttl for a user's session.
func (s *Server) mintAccessToken(u *store.User, roles []string, sid uuid.UUID, ttl time.Duration) (token string, expiresIn int64, err error) {
	now := s.now()
	anonymous := "false"
	if u.IsAnonymous {
		anonymous = "true"
	}
	allowed := roles
	if allowed == nil {
		allowed = []string{}
	}
	claims := jwt.MapClaims{
		"sub": u.ID.String(),
		"sid": sid.String(),
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"iss": s.cfg.JWT.Issuer,
		s.cfg.JWT.ClaimsNamespace: map[string]any{
			"x-hasura-user-id":           u.ID.String(),
			"x-hasura-default-role":      u.DefaultRole,
			"x-hasura-allowed-roles":     allowed,
			"x-hasura-user-is-anonymous": anonymous,
		},
	}
	signed, err := s.sign(claims)
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	return signed, int64(ttl / time.Second), nil
}

// sign signs claims with the current signing key.
func (s *Server) sign(claims jwt.MapClaims) (string, error) {
	key := s.keys.signer()
	if key == nil {
		return "", errors.New("no signing key")
	}
	t := jwt.NewWithClaims(key.method, claims)
	if key.kid != "" {
		t.Header["kid"] = key.kid
	}
	return t.SignedString(key.private)
}

// parseAccessToken checks an access token's signature, issuer and expiry (not its session) and
// returns its user and session ids.
func (s *Server) parseAccessToken(ctx context.Context, raw string) (userID, sessionID uuid.UUID, err error) {
	key := tokenKey(raw)
	if v, ok := s.verified.get(key); ok && s.now().Before(v.expires) && s.keys.has(v.kid) {
		return v.userID, v.sessionID, nil
	}
	var (
		c   accessClaims
		kid string
	)
	_, err = s.jwtParser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		key, ok := s.keys.verifier(ctx, kid)
		if !ok || key.method.Alg() != t.Method.Alg() {
			return nil, errors.New("unknown signing key")
		}
		return key.public, nil
	})
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if c.TokenUse != "" {
		return uuid.Nil, uuid.Nil, fmt.Errorf("a %q token is not an access token", c.TokenUse)
	}
	if userID, err = uuid.Parse(c.Subject); err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("bad sub claim: %w", err)
	}
	if sessionID, err = uuid.Parse(c.SID); err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("bad sid claim: %w", err)
	}
	s.verified.put(key, verifiedToken{userID: userID, sessionID: sessionID, expires: c.ExpiresAt.Time, kid: kid})
	return userID, sessionID, nil
}

func newJWTParser(cfg JWTConfig, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "EdDSA", "HS256", "HS384", "HS512"}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)
}
