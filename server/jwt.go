package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
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
	// ClockSkew is how far ahead of this instance's clock a token's iat and nbf may be: another
	// instance's clock (or Hasura's) may run ahead. exp gets no leeway.
	ClockSkew time.Duration
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
//
// It is on every sign-in and refresh, so it writes the token itself rather than through
// jwt.MapClaims: the same header and claims, byte for byte, that jwt.Token.SignedString makes of
// them (json.Marshal of maps: keys sorted, HTML-safe strings; TestMintMatchesJWTLibrary holds the
// two together), without reflection over two maps. The token goes into the verified-token cache
// as it is made: the client's next request presents it, and a token this server just signed
// needs no signature check to be known good.
func (s *Server) mintAccessToken(u *store.User, roles []string, sid uuid.UUID, ttl time.Duration) (token string, expiresIn int64, err error) {
	return s.mintAccess(u, roles, sid, ttl, false)
}

// mintAccess is mintAccessToken; elevated adds x-hasura-auth-elevated (the user's id) to the
// Hasura claims, as a security key's step-up check does (elevation.go).
func (s *Server) mintAccess(u *store.User, roles []string, sid uuid.UUID, ttl time.Duration, elevated bool) (token string, expiresIn int64, err error) {
	key := s.keys.signer()
	if key == nil {
		return "", 0, errors.New("sign access token: no signing key")
	}
	now := s.now()
	exp := now.Add(ttl).Unix()
	c := accessTokenClaims{sub: u.ID.String(), sid: sid.String(), iat: now.Unix(), exp: exp, iss: s.cfg.JWT.Issuer,
		ns: s.cfg.JWT.ClaimsNamespace, defaultRole: u.DefaultRole, allowed: roles, anonymous: u.IsAnonymous, elevated: elevated}
	if c.reservedNamespace() {
		token, err = s.sign(c.mapClaims())
	} else {
		token, err = signJWT(key, c.appendJSON(make([]byte, 0, 384)))
	}
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	s.verified.put(tokenKey(token), verifiedToken{userID: u.ID, sessionID: sid, expires: time.Unix(exp, 0), kid: key.kid, elevated: elevated})
	return token, int64(ttl / time.Second), nil
}

// accessTokenClaims are the claims of an access token.
type accessTokenClaims struct {
	sub, sid    string
	iat, exp    int64
	iss, ns     string
	defaultRole string
	allowed     []string
	anonymous   bool
	elevated    bool
}

// reservedNamespace: a claims namespace named like a registered claim would replace it in a
// map; such a configuration keeps the map.
func (c *accessTokenClaims) reservedNamespace() bool {
	switch c.ns {
	case "exp", "iat", "iss", "sid", "sub":
		return true
	}
	return false
}

// mapClaims are the claims as jwt.MapClaims.
func (c *accessTokenClaims) mapClaims() jwt.MapClaims {
	anonymous := "false"
	if c.anonymous {
		anonymous = "true"
	}
	allowed := c.allowed
	if allowed == nil {
		allowed = []string{}
	}
	hasura := map[string]any{
		"x-hasura-user-id":           c.sub,
		"x-hasura-default-role":      c.defaultRole,
		"x-hasura-allowed-roles":     allowed,
		"x-hasura-user-is-anonymous": anonymous,
	}
	if c.elevated {
		hasura[elevatedClaim] = c.sub
	}
	return jwt.MapClaims{
		"sub": c.sub,
		"sid": c.sid,
		"iat": c.iat,
		"exp": c.exp,
		"iss": c.iss,
		c.ns:  hasura,
	}
}

// appendJSON appends the claims as json.Marshal(c.mapClaims()) writes them: keys in order, the
// namespace in its sorted place among the registered claims.
func (c *accessTokenClaims) appendJSON(b []byte) []byte {
	b = append(b, '{')
	nsDone := false
	field := func(name string) {
		if !nsDone && c.ns < name {
			nsDone = true
			b = c.appendNamespace(b)
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
	}
	field("exp")
	b = strconv.AppendInt(b, c.exp, 10)
	b = append(b, ',')
	field("iat")
	b = strconv.AppendInt(b, c.iat, 10)
	b = append(b, ',')
	field("iss")
	b = appendJSONString(b, c.iss)
	b = append(b, ',')
	field("sid")
	b = appendJSONString(b, c.sid)
	b = append(b, ',')
	field("sub")
	b = appendJSONString(b, c.sub)
	if !nsDone {
		b = append(b, ',')
		b = c.appendNamespace(b)
	}
	return append(b, '}')
}

func (c *accessTokenClaims) appendNamespace(b []byte) []byte {
	b = appendJSONString(b, c.ns)
	b = append(b, `:{"x-hasura-allowed-roles":[`...)
	for i, r := range c.allowed {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	b = append(b, ']')
	if c.elevated {
		b = append(b, `,"x-hasura-auth-elevated":`...)
		b = appendJSONString(b, c.sub)
	}
	b = append(b, `,"x-hasura-default-role":`...)
	b = appendJSONString(b, c.defaultRole)
	b = append(b, `,"x-hasura-user-id":`...)
	b = appendJSONString(b, c.sub)
	if c.anonymous {
		b = append(b, `,"x-hasura-user-is-anonymous":"true"}`...)
	} else {
		b = append(b, `,"x-hasura-user-is-anonymous":"false"}`...)
	}
	return b
}

// signJWT signs claims (JSON) with key as jwt.Token.SignedString does, header included.
func signJWT(key *signingKey, claims []byte) (string, error) {
	header := `{"alg":` + string(appendJSONString(nil, key.method.Alg()))
	if key.kid != "" {
		header += `,"kid":` + string(appendJSONString(nil, key.kid))
	}
	header += `,"typ":"JWT"}`
	enc := base64.RawURLEncoding
	n := enc.EncodedLen(len(header)) + 1 + enc.EncodedLen(len(claims))
	buf := make([]byte, 0, n+1+enc.EncodedLen(512)) // room for the largest signature (RS256 with a 4096-bit key)
	buf = enc.AppendEncode(buf, []byte(header))
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, claims)
	sig, err := key.method.Sign(string(buf), key.private)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
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
	v, err := s.parseAccess(ctx, raw)
	return v.userID, v.sessionID, err
}

// parseAccess is parseAccessToken, with whether the token is elevated.
func (s *Server) parseAccess(ctx context.Context, raw string) (verifiedToken, error) {
	key := tokenKey(raw)
	if v, ok := s.verified.get(key); ok && s.now().Before(v.expires) && s.keys.has(v.kid) {
		return v, nil
	}
	var userID, sessionID uuid.UUID
	var (
		c   accessClaims
		kid string
	)
	_, err := s.jwtParser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		key, ok := s.keys.verifier(ctx, kid)
		if !ok || key.method.Alg() != t.Method.Alg() {
			return nil, errors.New("unknown signing key")
		}
		return key.public, nil
	})
	if err != nil {
		return verifiedToken{}, err
	}
	// The parser gives exp the clock-skew leeway too; exp itself is exact (the issuer's own
	// clock set it, and a token must not outlive the life it was given).
	if !s.now().Before(c.ExpiresAt.Time) {
		return verifiedToken{}, jwt.ErrTokenExpired
	}
	if c.TokenUse != "" {
		return verifiedToken{}, fmt.Errorf("a %q token is not an access token", c.TokenUse)
	}
	if userID, err = uuid.Parse(c.Subject); err != nil {
		return verifiedToken{}, fmt.Errorf("bad sub claim: %w", err)
	}
	if sessionID, err = uuid.Parse(c.SID); err != nil {
		return verifiedToken{}, fmt.Errorf("bad sid claim: %w", err)
	}
	v := verifiedToken{userID: userID, sessionID: sessionID, expires: c.ExpiresAt.Time, kid: kid,
		elevated: s.elevatedClaimOf(raw) == userID.String()}
	s.verified.put(key, v)
	return v, nil
}

// newJWTParser checks signatures, the issuer, and the times with cfg.ClockSkew's leeway: a token
// minted by another instance (or by Hasura's side of a shared secret) whose clock runs a little
// ahead carries an iat, and perhaps an nbf, that this clock has not reached yet. The leeway also
// applies to exp, which parseAccessToken checks again without it.
func newJWTParser(cfg JWTConfig, now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "EdDSA", "HS256", "HS384", "HS512"}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(now),
	)
}
