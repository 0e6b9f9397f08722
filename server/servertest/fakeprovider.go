package servertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FakeProvider is an external sign-in provider on 127.0.0.1: an OpenID Connect issuer
// (discovery, JWKS, authorize, token) and an OAuth 2 API in one (its JSON answers are whatever
// the signing-in account's API map holds, at URL+"/api"+path). The account that signs in at the
// next authorization is Next. It checks PKCE (S256) on every code exchange.
type FakeProvider struct {
	URL string // the issuer, and the base of every endpoint
	Now func() time.Time

	mu      sync.Mutex
	key     *rsa.PrivateKey
	kid     string
	oldKeys []jwkKey // keys still published after a rotation
	next    FakeAccount
	codes   map[string]fakeGrant
	tokens  map[string]FakeAccount
	refuse  bool
	down    bool
	// Discoveries counts discovery-document requests; KeyFetches JWKS requests.
	Discoveries, KeyFetches int
}

// FakeAccount is the account that signs in at the provider.
type FakeAccount struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	Claims        map[string]any // further ID-token claims
	API           map[string]any // path (without query) → JSON answer of the OAuth 2 API
	TokenExtra    map[string]any // further fields of the token response
}

type fakeGrant struct {
	account               FakeAccount
	challenge, nonce, aud string
	redirectURI           string
}

type jwkKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// StartFakeProvider runs a fake provider until the test ends.
func StartFakeProvider(t *testing.T) *FakeProvider {
	t.Helper()
	fp := &FakeProvider{Now: time.Now, codes: map[string]fakeGrant{}, tokens: map[string]FakeAccount{}}
	fp.RotateKey(t)
	fp.oldKeys = nil
	ts := httptest.NewServer(http.HandlerFunc(fp.serve))
	t.Cleanup(ts.Close)
	fp.URL = ts.URL
	return fp
}

// SetNext sets the account that signs in at the next authorization.
func (fp *FakeProvider) SetNext(a FakeAccount) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.next = a
}

// RefuseCodes makes the token endpoint refuse every code (invalid_grant).
func (fp *FakeProvider) RefuseCodes(refuse bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.refuse = refuse
}

// SetDown makes every endpoint answer 503.
func (fp *FakeProvider) SetDown(down bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.down = down
}

// RotateKey signs from now on with a new key of a new kid; the old key stays published.
func (fp *FakeProvider) RotateKey(t *testing.T) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.key != nil {
		fp.oldKeys = append(fp.oldKeys, publicJWK(fp.key, fp.kid))
	}
	fp.key, fp.kid = key, fmt.Sprintf("k%d", len(fp.oldKeys)+1)
}

func publicJWK(k *rsa.PrivateKey, kid string) jwkKey {
	return jwkKey{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
		N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

// IDToken signs an ID token for a with the provider's current key: issuer URL, audience aud,
// an hour's life from Now, and nonce when not empty. edit may change the claims before signing.
func (fp *FakeProvider) IDToken(t *testing.T, a FakeAccount, aud, nonce string, edit func(jwt.MapClaims)) string {
	t.Helper()
	fp.mu.Lock()
	key, kid := fp.key, fp.kid
	fp.mu.Unlock()
	return fp.signIDToken(t, key, kid, a, aud, nonce, edit)
}

// IDTokenWithKey is IDToken signed by a key the provider never published, under its current kid.
func (fp *FakeProvider) IDTokenWithKey(t *testing.T, a FakeAccount, aud string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fp.mu.Lock()
	kid := fp.kid
	fp.mu.Unlock()
	return fp.signIDToken(t, key, kid, a, aud, "", nil)
}

func (fp *FakeProvider) signIDToken(t *testing.T, key *rsa.PrivateKey, kid string, a FakeAccount, aud, nonce string, edit func(jwt.MapClaims)) string {
	now := fp.Now()
	c := jwt.MapClaims{"iss": fp.URL, "sub": a.Subject, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": randomString()}
	if a.Email != "" {
		c["email"], c["email_verified"] = a.Email, a.EmailVerified
	}
	if a.Name != "" {
		c["name"] = a.Name
	}
	if a.Picture != "" {
		c["picture"] = a.Picture
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	for k, v := range a.Claims {
		c[k] = v
	}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (fp *FakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	fp.mu.Lock()
	down := fp.down
	fp.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.URL.Path == "/.well-known/openid-configuration":
		fp.mu.Lock()
		fp.Discoveries++
		fp.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": fp.URL, "authorization_endpoint": fp.URL + "/authorize", "token_endpoint": fp.URL + "/token",
			"jwks_uri": fp.URL + "/jwks", "userinfo_endpoint": fp.URL + "/userinfo",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case r.URL.Path == "/jwks":
		fp.mu.Lock()
		fp.KeyFetches++
		keys := append([]jwkKey{publicJWK(fp.key, fp.kid)}, fp.oldKeys...)
		fp.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
	case r.URL.Path == "/authorize":
		fp.authorize(w, r)
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		fp.token(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		fp.api(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (fp *FakeProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "PKCE S256 and state required", http.StatusBadRequest)
		return
	}
	code := randomString()
	fp.mu.Lock()
	fp.codes[code] = fakeGrant{account: fp.next, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"),
		aud: q.Get("client_id"), redirectURI: q.Get("redirect_uri")}
	fp.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (fp *FakeProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	clientID := r.PostForm.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		clientID, _ = url.QueryUnescape(id)
	}
	fp.mu.Lock()
	g, ok := fp.codes[r.PostForm.Get("code")]
	delete(fp.codes, r.PostForm.Get("code"))
	refuse := fp.refuse
	fp.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok || refuse:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "PKCE verifier mismatch"})
		return
	case clientID != g.aud || r.PostForm.Get("redirect_uri") != g.redirectURI:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_client"})
		return
	}
	access := randomString()
	fp.mu.Lock()
	fp.tokens[access] = g.account
	key, kid := fp.key, fp.kid
	fp.mu.Unlock()
	res := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600}
	res["id_token"] = fp.signIDToken(nil, key, kid, g.account, g.aud, g.nonce, nil)
	for k, v := range g.account.TokenExtra {
		res[k] = v
	}
	writeJSON(w, http.StatusOK, res)
}

func (fp *FakeProvider) api(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	fp.mu.Lock()
	a, ok := fp.tokens[tok]
	fp.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
		return
	}
	v, ok := a.API[strings.TrimPrefix(r.URL.Path, "/api")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
