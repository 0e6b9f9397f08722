package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// ProviderConfig configures one external provider (LATCHKEY_PROVIDER_<NAME>_*). A provider is on
// when it has a client id.
type ProviderConfig struct {
	// ClientIDs are the provider's client ids: the first is the web client the redirect flow
	// uses; every one is an accepted audience of ID tokens (iOS, Android and web apps each have
	// their own).
	ClientIDs    []string
	ClientSecret string
	Scopes       []string // empty: the provider's defaults
	// Endpoint overrides: the issuer of an OpenID Connect provider; the authorization, token and
	// API base URLs of the others (so a test or a self-hosted GitLab can point them elsewhere).
	Issuer, AuthURL, TokenURL, APIURL string
	// Apple: without a client secret, one is signed with this key for each code exchange.
	AppleTeamID, AppleKeyID, ApplePrivateKey string
	// Azure AD / Entra ID tenant ("common" by default).
	Tenant string
	// WorkOS: the organization or connection sign-in goes through.
	Organization, Connection string
}

// providerProfile is what Latchkey reads about a provider account.
type providerProfile struct {
	Subject       string // the account's stable id at the provider
	Email         string
	EmailVerified bool // the provider vouches that the account owns Email
	DisplayName   string
	AvatarURL     string
	Locale        string
}

// providerDef is one row of the provider table: where a provider lives, what it is asked for, and
// how its answers map onto a providerProfile.
type providerDef struct {
	Name string
	// OIDC providers are found through discovery from Issuer (which may name {tenant}) and
	// their profile is the verified ID token's claims.
	OIDC   bool
	Issuer string
	// The others: endpoints and the base URL of the API profile reads from.
	AuthURL, TokenURL, APIURL string
	AuthStyle                 oauth2.AuthStyle
	Scopes                    []string
	IDTokens                  bool // accepted by POST /v1/signin/idtoken and /v1/link/idtoken
	FormPost                  bool // the provider posts its answer (Apple)
	NoEmail                   bool // the provider never tells an address: accounts are made without one
	// Profile reads the profile of a non-OIDC provider with the exchanged token.
	Profile func(ctx context.Context, c *apiCall) (providerProfile, error)
}

// providerDefs is every provider Latchkey speaks to; the contract's SignInProvider enum lists the
// same names.
var providerDefs = []providerDef{
	{Name: "apple", OIDC: true, Issuer: "https://appleid.apple.com", Scopes: []string{"name", "email"}, IDTokens: true, FormPost: true},
	{Name: "google", OIDC: true, Issuer: "https://accounts.google.com", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}, IDTokens: true},
	{Name: "linkedin", OIDC: true, Issuer: "https://www.linkedin.com/oauth", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
	{Name: "azuread", OIDC: true, Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
	{Name: "entraid", OIDC: true, Issuer: "https://login.microsoftonline.com/{tenant}/v2.0", Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
	{Name: "oidc", OIDC: true, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}, IDTokens: true},
	{Name: "github", AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
		APIURL: "https://api.github.com", Scopes: []string{"read:user", "user:email"}, Profile: githubProfile},
	{Name: "gitlab", AuthURL: "https://gitlab.com/oauth/authorize", TokenURL: "https://gitlab.com/oauth/token",
		APIURL: "https://gitlab.com/api/v4", Scopes: []string{"read_user"}, Profile: gitlabProfile},
	{Name: "bitbucket", AuthURL: "https://bitbucket.org/site/oauth2/authorize", TokenURL: "https://bitbucket.org/site/oauth2/access_token",
		APIURL: "https://api.bitbucket.org/2.0", Scopes: []string{"account", "email"}, Profile: bitbucketProfile},
	{Name: "discord", AuthURL: "https://discord.com/oauth2/authorize", TokenURL: "https://discord.com/api/oauth2/token",
		APIURL: "https://discord.com/api", Scopes: []string{"identify", "email"}, Profile: discordProfile},
	{Name: "spotify", AuthURL: "https://accounts.spotify.com/authorize", TokenURL: "https://accounts.spotify.com/api/token",
		APIURL: "https://api.spotify.com/v1", Scopes: []string{"user-read-email"}, Profile: spotifyProfile},
	{Name: "twitch", AuthURL: "https://id.twitch.tv/oauth2/authorize", TokenURL: "https://id.twitch.tv/oauth2/token",
		APIURL: "https://api.twitch.tv/helix", AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"user:read:email"}, Profile: twitchProfile},
	{Name: "workos", AuthURL: "https://api.workos.com/sso/authorize", TokenURL: "https://api.workos.com/sso/token",
		APIURL: "https://api.workos.com", AuthStyle: oauth2.AuthStyleInParams, Profile: workosProfile},
	{Name: "strava", AuthURL: "https://www.strava.com/oauth/authorize", TokenURL: "https://www.strava.com/oauth/token",
		APIURL: "https://www.strava.com/api/v3", AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"read"}, NoEmail: true, Profile: stravaProfile},
	{Name: "facebook", AuthURL: "https://www.facebook.com/v19.0/dialog/oauth", TokenURL: "https://graph.facebook.com/v19.0/oauth/access_token",
		APIURL: "https://graph.facebook.com/v19.0", AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"email", "public_profile"}, Profile: facebookProfile},
	{Name: "windowslive", AuthURL: "https://login.live.com/oauth20_authorize.srf", TokenURL: "https://login.live.com/oauth20_token.srf",
		APIURL: "https://apis.live.net/v5.0", AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"wl.basic", "wl.emails"}, Profile: windowsliveProfile},
	{Name: "twitter", AuthURL: "https://twitter.com/i/oauth2/authorize", TokenURL: "https://api.twitter.com/2/oauth2/token",
		APIURL: "https://api.twitter.com/2", AuthStyle: oauth2.AuthStyleInHeader, Scopes: []string{"users.read", "tweet.read", "users.email"}, Profile: twitterProfile},
}

// ProviderNames lists every provider of the table, for configuration.
func ProviderNames() []string {
	out := make([]string, len(providerDefs))
	for i, d := range providerDefs {
		out[i] = d.Name
	}
	return out
}

// ProviderOIDC reports whether the provider called name is an OpenID Connect issuer (configured
// by its issuer) rather than an OAuth 2 API (configured by its endpoints).
func ProviderOIDC(name string) bool {
	for _, d := range providerDefs {
		if d.Name == name {
			return d.OIDC
		}
	}
	return false
}

// provider is a configured provider at run time. An OIDC provider's discovery document is
// fetched when first needed and kept; until it answers, each use tries again, so a provider that
// is down while Latchkey starts delays nothing but its own sign-ins. Its keys are go-oidc's
// remote key set: cached, and fetched again when a token names a key not seen yet.
type provider struct {
	def    *providerDef
	cfg    ProviderConfig
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// newProviders builds the configured providers; an unknown name is an error.
func newProviders(cfgs map[string]ProviderConfig, now func() time.Time) (map[string]*provider, error) {
	out := map[string]*provider{}
	client := &http.Client{Timeout: 15 * time.Second}
	for name, c := range cfgs {
		if len(c.ClientIDs) == 0 {
			continue
		}
		var def *providerDef
		for i := range providerDefs {
			if providerDefs[i].Name == name {
				def = &providerDefs[i]
			}
		}
		if def == nil {
			return nil, fmt.Errorf("provider %q: no such provider", name)
		}
		if def.OIDC && def.Issuer == "" && c.Issuer == "" {
			return nil, fmt.Errorf("provider %q: an issuer is required", name)
		}
		out[name] = &provider{def: def, cfg: c, client: client, now: now}
	}
	return out, nil
}

// multiTenant is the issuer Azure AD's shared tenants put in their discovery documents: each
// token's issuer names the user's own tenant.
const multiTenantIssuer = "https://login.microsoftonline.com/{tenantid}/v2.0"

// issuer is where the provider's discovery document is, and whether its tokens come from many
// tenants' issuers.
func (p *provider) issuer() (string, bool) {
	if p.cfg.Issuer != "" {
		return strings.TrimRight(p.cfg.Issuer, "/"), false
	}
	tenant := p.cfg.Tenant
	if tenant == "" {
		tenant = "common"
	}
	shared := tenant == "common" || tenant == "organizations" || tenant == "consumers"
	return strings.ReplaceAll(p.def.Issuer, "{tenant}", tenant), shared && strings.Contains(p.def.Issuer, "{tenant}")
}

// ctx carries the provider's HTTP client (its own time limit) for calls made for the request:
// discovery, keys, the code exchange and profile reads. go-oidc keeps no request context: its
// key set fetches later keys with the client alone.
func (p *provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.client)
}

// discover returns the provider's OIDC discovery and ID-token verifier, fetching the document
// on first use.
func (p *provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, p.verifier, nil
	}
	issuer, shared := p.issuer()
	dctx := p.ctx(ctx)
	if shared {
		dctx = oidc.InsecureIssuerURLContext(dctx, multiTenantIssuer)
	}
	op, err := oidc.NewProvider(dctx, issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover %s: %w", p.def.Name, err)
	}
	// The audience is checked against every client id, and a shared tenant's issuer against the
	// token's own tenant, in verifyIDToken.
	p.oidc = op
	p.verifier = op.Verifier(&oidc.Config{SkipClientIDCheck: true, SkipIssuerCheck: shared, Now: p.now})
	return p.oidc, p.verifier, nil
}

// idClaims are the ID-token claims Latchkey reads.
type idClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // a boolean, or Apple's "true"
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Picture       string `json:"picture"`
	Locale        any    `json:"locale"` // a string; LinkedIn sends an object
	TenantID      string `json:"tid"`
}

// errIDToken is an ID token that does not hold; its cause says which check failed.
var errIDToken = errors.New("id token refused")

// verifyIDToken checks raw's signature against the provider's keys, its issuer, that its audience
// is one of the client ids, its expiry and, when want is set, its nonce; and maps its claims.
func (p *provider) verifyIDToken(ctx context.Context, raw, wantNonce string) (providerProfile, *oidc.IDToken, error) {
	_, v, err := p.discover(ctx)
	if err != nil {
		return providerProfile{}, nil, err
	}
	tok, err := v.Verify(p.ctx(ctx), raw)
	if err != nil {
		return providerProfile{}, nil, fmt.Errorf("%w: %v", errIDToken, err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		return providerProfile{}, nil, fmt.Errorf("%w: claims: %v", errIDToken, err)
	}
	if _, shared := p.issuer(); shared && (c.TenantID == "" || tok.Issuer != strings.ReplaceAll(multiTenantIssuer, "{tenantid}", c.TenantID)) {
		return providerProfile{}, nil, fmt.Errorf("%w: issuer %q is not the token's tenant's", errIDToken, tok.Issuer)
	}
	if !p.audienceOK(tok.Audience) {
		return providerProfile{}, nil, fmt.Errorf("%w: audience %v", errIDToken, tok.Audience)
	}
	if wantNonce != "" && !constantEqual(tok.Nonce, wantNonce) {
		return providerProfile{}, nil, fmt.Errorf("%w: nonce", errIDToken)
	}
	if tok.Subject == "" {
		return providerProfile{}, nil, fmt.Errorf("%w: no subject", errIDToken)
	}
	prof := providerProfile{Subject: tok.Subject, Email: c.Email, AvatarURL: c.Picture, DisplayName: c.Name}
	switch ev := c.EmailVerified.(type) {
	case bool:
		prof.EmailVerified = ev
	case string:
		prof.EmailVerified = ev == "true"
	}
	if prof.DisplayName == "" {
		prof.DisplayName = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	}
	if l, ok := c.Locale.(string); ok {
		prof.Locale = l
	}
	return prof, tok, nil
}

func (p *provider) audienceOK(aud []string) bool {
	for _, a := range aud {
		for _, id := range p.cfg.ClientIDs {
			if a == id {
				return true
			}
		}
	}
	return false
}

// oauth2Config is the code-exchange configuration with the provider's endpoints.
func (p *provider) oauth2Config(ctx context.Context, redirectURL string) (*oauth2.Config, error) {
	c := &oauth2.Config{ClientID: p.cfg.ClientIDs[0], ClientSecret: p.cfg.ClientSecret, RedirectURL: redirectURL, Scopes: p.def.Scopes}
	if len(p.cfg.Scopes) > 0 {
		c.Scopes = p.cfg.Scopes
	}
	if p.def.OIDC {
		op, _, err := p.discover(ctx)
		if err != nil {
			return nil, err
		}
		c.Endpoint = op.Endpoint()
	} else {
		c.Endpoint = oauth2.Endpoint{AuthURL: or(p.cfg.AuthURL, p.def.AuthURL), TokenURL: or(p.cfg.TokenURL, p.def.TokenURL), AuthStyle: p.def.AuthStyle}
	}
	return c, nil
}

// clientSecret is the secret for one code exchange: the configured one, or for Apple one signed
// with the configured key (Apple's client secrets are short-lived JWTs).
func (p *provider) clientSecret() (string, error) {
	if p.cfg.ClientSecret != "" || p.def.Name != "apple" || p.cfg.ApplePrivateKey == "" {
		return p.cfg.ClientSecret, nil
	}
	key, err := jwt.ParseECPrivateKeyFromPEM([]byte(p.cfg.ApplePrivateKey))
	if err != nil {
		return "", fmt.Errorf("apple private key: %w", err)
	}
	now := p.now()
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
		Issuer: p.cfg.AppleTeamID, Subject: p.cfg.ClientIDs[0], Audience: jwt.ClaimStrings{"https://appleid.apple.com"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	})
	t.Header["kid"] = p.cfg.AppleKeyID
	return t.SignedString(key)
}

// authParams are the provider-specific parameters of the authorization request.
func (p *provider) authParams() []oauth2.AuthCodeOption {
	var out []oauth2.AuthCodeOption
	if p.def.FormPost {
		out = append(out, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	if p.cfg.Organization != "" {
		out = append(out, oauth2.SetAuthURLParam("organization", p.cfg.Organization))
	}
	if p.cfg.Connection != "" {
		out = append(out, oauth2.SetAuthURLParam("connection", p.cfg.Connection))
	}
	if p.def.Name == "workos" && p.cfg.Organization == "" && p.cfg.Connection == "" {
		out = append(out, oauth2.SetAuthURLParam("provider", "authkit"))
	}
	return out
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// --- profiles of the providers that are not OpenID Connect

// apiCall reads a provider's API with the exchanged token.
type apiCall struct {
	base     string
	token    *oauth2.Token
	client   *http.Client
	clientID string
}

// get reads base+path as JSON (numbers kept as json.Number, so ids stay exact).
func (c *apiCall) get(ctx context.Context, path string, header map[string]string) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.base, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.AccessToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", path, res.StatusCode)
	}
	dec := json.NewDecoder(io.LimitReader(res.Body, 1<<20))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return v, nil
}

// jpath walks objects (by key) and arrays (by decimal index) of a decoded JSON value.
func jpath(v any, path ...string) any {
	for _, k := range path {
		switch t := v.(type) {
		case map[string]any:
			v = t[k]
		case []any:
			i := 0
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// jstr is a string or number at path, as text; "" otherwise.
func jstr(v any, path ...string) string {
	switch t := jpath(v, path...).(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	}
	return ""
}

func jbool(v any, path ...string) bool {
	b, _ := jpath(v, path...).(bool)
	return b
}

// verifiedEmail picks the primary address from a provider's list of addresses.
func verifiedEmail(list any, addr, primary, verified string) (string, bool) {
	items, _ := list.([]any)
	for _, it := range items {
		if jbool(it, primary) {
			return jstr(it, addr), jbool(it, verified)
		}
	}
	return "", false
}

func githubProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/user", nil)
	if err != nil {
		return providerProfile{}, err
	}
	emails, err := c.get(ctx, "/user/emails", nil)
	if err != nil {
		return providerProfile{}, err
	}
	email, ok := verifiedEmail(emails, "email", "primary", "verified")
	return providerProfile{Subject: jstr(u, "id"), Email: email, EmailVerified: ok,
		DisplayName: or(jstr(u, "name"), jstr(u, "login")), AvatarURL: jstr(u, "avatar_url")}, nil
}

func gitlabProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/user", nil)
	if err != nil {
		return providerProfile{}, err
	}
	return providerProfile{Subject: jstr(u, "id"), Email: jstr(u, "email"), EmailVerified: jstr(u, "confirmed_at") != "",
		DisplayName: or(jstr(u, "name"), jstr(u, "username")), AvatarURL: jstr(u, "avatar_url"), Locale: jstr(u, "preferred_language")}, nil
}

func bitbucketProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/user", nil)
	if err != nil {
		return providerProfile{}, err
	}
	emails, err := c.get(ctx, "/user/emails", nil)
	if err != nil {
		return providerProfile{}, err
	}
	email, ok := verifiedEmail(jpath(emails, "values"), "email", "is_primary", "is_confirmed")
	return providerProfile{Subject: or(jstr(u, "uuid"), jstr(u, "account_id")), Email: email, EmailVerified: ok,
		DisplayName: or(jstr(u, "display_name"), jstr(u, "username")), AvatarURL: jstr(u, "links", "avatar", "href")}, nil
}

func discordProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/users/@me", nil)
	if err != nil {
		return providerProfile{}, err
	}
	p := providerProfile{Subject: jstr(u, "id"), Email: jstr(u, "email"), EmailVerified: jbool(u, "verified"),
		DisplayName: or(jstr(u, "global_name"), jstr(u, "username")), Locale: jstr(u, "locale")}
	if a := jstr(u, "avatar"); a != "" {
		p.AvatarURL = "https://cdn.discordapp.com/avatars/" + url.PathEscape(p.Subject) + "/" + url.PathEscape(a) + ".png"
	}
	return p, nil
}

func spotifyProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/me", nil)
	if err != nil {
		return providerProfile{}, err
	}
	// Spotify does not verify addresses.
	return providerProfile{Subject: jstr(u, "id"), Email: jstr(u, "email"), DisplayName: jstr(u, "display_name"),
		AvatarURL: jstr(u, "images", "0", "url")}, nil
}

func twitchProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/users", map[string]string{"Client-Id": c.clientID})
	if err != nil {
		return providerProfile{}, err
	}
	d := jpath(u, "data", "0")
	// Twitch's users API gives only the verified address.
	email := jstr(d, "email")
	return providerProfile{Subject: jstr(d, "id"), Email: email, EmailVerified: email != "",
		DisplayName: or(jstr(d, "display_name"), jstr(d, "login")), AvatarURL: jstr(d, "profile_image_url")}, nil
}

func workosProfile(_ context.Context, c *apiCall) (providerProfile, error) {
	// WorkOS returns the profile with the token; the address comes from the organisation's own
	// identity provider, which Latchkey cannot judge, so it is not taken as vouched.
	raw, _ := json.Marshal(c.token.Extra("profile"))
	var u any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&u); err != nil || u == nil {
		return providerProfile{}, errors.New("workos: no profile in the token response")
	}
	return providerProfile{Subject: jstr(u, "id"), Email: jstr(u, "email"),
		DisplayName: strings.TrimSpace(jstr(u, "first_name") + " " + jstr(u, "last_name"))}, nil
}

func stravaProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/athlete", nil)
	if err != nil {
		return providerProfile{}, err
	}
	return providerProfile{Subject: jstr(u, "id"), DisplayName: strings.TrimSpace(jstr(u, "firstname") + " " + jstr(u, "lastname")),
		AvatarURL: jstr(u, "profile")}, nil
}

func facebookProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/me?fields=id,name,email,picture.type(large)", nil)
	if err != nil {
		return providerProfile{}, err
	}
	// Facebook hands out only confirmed addresses.
	email := jstr(u, "email")
	return providerProfile{Subject: jstr(u, "id"), Email: email, EmailVerified: email != "", DisplayName: jstr(u, "name"),
		AvatarURL: jstr(u, "picture", "data", "url")}, nil
}

func windowsliveProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/me", nil)
	if err != nil {
		return providerProfile{}, err
	}
	return providerProfile{Subject: jstr(u, "id"), Email: or(jstr(u, "emails", "preferred"), jstr(u, "emails", "account")),
		DisplayName: jstr(u, "name")}, nil
}

func twitterProfile(ctx context.Context, c *apiCall) (providerProfile, error) {
	u, err := c.get(ctx, "/users/me?user.fields=profile_image_url,confirmed_email", nil)
	if err != nil {
		return providerProfile{}, err
	}
	d := jpath(u, "data")
	email := jstr(d, "confirmed_email")
	return providerProfile{Subject: jstr(d, "id"), Email: email, EmailVerified: email != "",
		DisplayName: or(jstr(d, "name"), jstr(d, "username")), AvatarURL: jstr(d, "profile_image_url")}, nil
}
