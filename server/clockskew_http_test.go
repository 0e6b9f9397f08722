package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store/testdb"
)

// skewedPair starts instance A with its clock on a whole second, and instance B on the same
// store with a clock behind A's by behind: two hosts of one deployment whose clocks disagree.
// A token A mints carries iat = A's second, which B's clock has not reached yet.
func skewedPair(t *testing.T, behind time.Duration, opts ...func(*server.Config)) (a, b *servertest.Harness) {
	t.Helper()
	a = servertest.Start(t, opts...)
	a.Clock.Advance(time.Second - time.Duration(a.Clock.Now().Nanosecond()))
	clockB := testdb.NewClock()
	clockB.Advance(a.Clock.Now().Add(-behind).Sub(clockB.Now()))
	b = servertest.StartOn(t, a.Store, clockB, opts...)
	return a, b
}

// TestClockSkewAcrossInstances: a token minted on A is accepted at once on B, whose clock is 300
// ms behind, on every path that verifies a JWT: the bearer token of an ordinary and of an elevated
// operation, the access token in a WME body, and tokens signed with a shared Hasura secret.
func TestClockSkewAcrossInstances(t *testing.T) {
	const behind = 300 * time.Millisecond
	sharedSecret := func(c *server.Config) {
		c.JWT.Secret = &server.HasuraJWTSecret{Type: "HS256", Key: strings.Repeat("k", 40)}
	}
	for _, mode := range []struct {
		name string
		opts []func(*server.Config)
	}{{"keys=managed", nil}, {"keys=hasura-shared-secret", []func(*server.Config){sharedSecret}}} {
		t.Run(mode.name, func(t *testing.T) {
			a, b := skewedPair(t, behind, mode.opts...)
			s := signUp(t, a, "skew@example.com", "correct-horse")
			if u := getUser(t, b, s.AccessToken); u.StatusCode() != http.StatusOK {
				t.Fatalf("GET /v1/user on B (clock %v behind A) with A's fresh token: %d %s, want 200", behind, u.StatusCode(), u.Body)
			}
			// An elevated operation (BearerAuthElevated) verifies the same way.
			pat, err := b.Client.CreatePATWithResponse(context.Background(), gen.CreatePATJSONRequestBody{
				ExpiresAt: b.Clock.Now().Add(24 * time.Hour)}, servertest.Bearer(signIn(t, a, "skew@example.com", "correct-horse").AccessToken))
			if err != nil {
				t.Fatal(err)
			}
			if pat.StatusCode() != http.StatusOK {
				t.Fatalf("POST /v1/pat on B with A's fresh token: %d %s, want 200", pat.StatusCode(), pat.Body)
			}
		})
	}
	t.Run("dialect=wme", func(t *testing.T) {
		a, b := skewedPair(t, behind)
		wmeUser(t, a, "skewed", "wme-skew@example.com", "j8BDWYrQwDF5u4Yu")
		tok := wmeLoginAs(t, a, "skewed", "j8BDWYrQwDF5u4Yu")
		wmePost(t, b, "/v1/change-password", wmeJSON("access_token", tok.AccessToken,
			"previous_password", "j8BDWYrQwDF5u4Yu", "proposed_password", "Nw9cQmZ4kHs2Lp7x"), http.StatusOK)
	})
}

// TestClockSkewBounds: iat and nbf get LATCHKEY_CLOCK_SKEW's leeway and no more; exp gets none.
// Tokens are signed with the shared secret, for a real user and session, so the claim under test
// is the only thing wrong with them.
func TestClockSkewBounds(t *testing.T) {
	key := strings.Repeat("k", 40)
	h := servertest.Start(t, func(c *server.Config) {
		c.JWT.Secret = &server.HasuraJWTSecret{Type: "HS256", Key: key}
	})
	skew := server.DefaultConfig().JWT.ClockSkew
	if skew != 30*time.Second {
		t.Fatalf("default clock skew %v, want 30s", skew)
	}
	s := signUp(t, h, "bounds@example.com", "correct-horse")
	var real jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(s.AccessToken, &real); err != nil {
		t.Fatal(err)
	}
	// Whole seconds, as NumericDate claims are: the clock sits on one.
	h.Clock.Advance(time.Second - time.Duration(h.Clock.Now().Nanosecond()))
	now := h.Clock.Now()
	forge := func(edit func(c jwt.MapClaims)) string {
		t.Helper()
		c := jwt.MapClaims{}
		for k, v := range real {
			c[k] = v
		}
		c["iat"], c["exp"] = now.Unix(), now.Add(10*time.Minute).Unix()
		edit(c)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, c := range []struct {
		name string
		edit func(c jwt.MapClaims)
		want int
	}{
		{"as minted", func(jwt.MapClaims) {}, http.StatusOK},
		{"iat within the skew", func(c jwt.MapClaims) { c["iat"] = at(skew - time.Second) }, http.StatusOK},
		{"iat at the skew", func(c jwt.MapClaims) { c["iat"] = at(skew) }, http.StatusOK},
		{"iat beyond the skew", func(c jwt.MapClaims) { c["iat"] = at(skew + time.Second) }, http.StatusUnauthorized},
		{"nbf within the skew", func(c jwt.MapClaims) { c["nbf"] = at(skew - time.Second) }, http.StatusOK},
		{"nbf beyond the skew", func(c jwt.MapClaims) { c["nbf"] = at(skew + time.Second) }, http.StatusUnauthorized},
	} {
		if u := getUser(t, h, forge(c.edit)); u.StatusCode() != c.want {
			t.Errorf("%s: GET /v1/user %d %s, want %d", c.name, u.StatusCode(), u.Body, c.want)
		}
	}

	// exp is exact: 1 ms before it the token works, 1 ms after it (well within the skew) it does
	// not. Each token is presented once, so no instance has it cached as verified.
	exp := now.Add(2 * time.Minute)
	before := forge(func(c jwt.MapClaims) { c["exp"] = exp.Unix() })
	after := forge(func(c jwt.MapClaims) { c["exp"] = exp.Unix(); c["jti"] = "after" })
	h.Clock.Advance(exp.Sub(now) - time.Millisecond)
	if u := getUser(t, h, before); u.StatusCode() != http.StatusOK {
		t.Errorf("1 ms before exp: %d %s, want 200", u.StatusCode(), u.Body)
	}
	h.Clock.Advance(2 * time.Millisecond)
	if u := getUser(t, h, after); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("1 ms after exp: %d %s, want 401 (exp has no leeway)", u.StatusCode(), u.Body)
	}
	// The token verified before exp and cached as such expires exactly too.
	if u := getUser(t, h, before); u.StatusCode() != http.StatusUnauthorized {
		t.Errorf("cached token 1 ms after exp: %d %s, want 401", u.StatusCode(), u.Body)
	}
}
