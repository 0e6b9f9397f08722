package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
	"golang.org/x/oauth2"
)

// stateTTL is how long a round trip to a provider may take.
const stateTTL = 10 * time.Minute

// authCodeTTL is how long the one-time code of a PKCE sign-in may wait for its exchange.
const authCodeTTL = 5 * time.Minute

// Audit actions of federated sign-in.
const (
	auditProviderLink   = "provider.link"
	auditProviderUnlink = "provider.unlink"
)

// methodProvider is the session method of a sign-in through provider name.
func methodProvider(name string) string { return "provider:" + name }

func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// lookupProvider returns the configured provider called name; one that is not configured is a
// disabled endpoint.
func (s *Server) lookupProvider(name string) (*provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, &Error{Code: CodeDisabledEndpoint, Err: fmt.Errorf("provider %s is not configured", name)}
	}
	return p, nil
}

// callbackURL is where provider name sends the browser back; it is registered with the provider.
func (s *Server) callbackURL(name string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/v1/signin/provider/" + name + "/callback"
}

// storedOptions are the sign-up options kept with a round trip.
type storedOptions struct {
	DisplayName  *string        `json:"displayName,omitempty"`
	Locale       *string        `json:"locale,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	DefaultRole  *string        `json:"defaultRole,omitempty"`
	AllowedRoles *[]string      `json:"allowedRoles,omitempty"`
}

// beginProviderInput is the start of a redirect sign-in.
type beginProviderInput struct {
	Provider      string
	Options       profileOptions
	Connect       *string // an access token: link to its user instead of signing in
	CodeChallenge *string // the application's PKCE challenge: end with a one-time code
}

// beginProviderSignIn checks the request, stores the round trip and returns the provider's
// authorization URL. Everything that can be refused is refused here, before the browser leaves.
func (s *Server) beginProviderSignIn(ctx context.Context, in beginProviderInput) (string, error) {
	p, err := s.lookupProvider(in.Provider)
	if err != nil {
		return "", err
	}
	target, err := s.redirectTarget(in.Options.RedirectTo)
	if err != nil {
		return "", err
	}
	if _, err := s.resolveProfile(in.Options, ""); err != nil {
		return "", err
	}
	st := &store.OAuthState{ID: uuid.New(), Provider: in.Provider, RedirectTo: target}
	if in.Connect != nil {
		pr, err := s.authenticateAccessToken(ctx, *in.Connect)
		if err != nil {
			return "", err
		}
		// A linked provider account is a way into the account, like a security key.
		if err := s.requireElevated(ctx, pr); err != nil {
			return "", err
		}
		st.ConnectSessionID = &pr.SessionID
	}
	if in.CodeChallenge != nil {
		st.CodeChallenge = *in.CodeChallenge
	}
	raw, _ := json.Marshal(storedOptions{DisplayName: in.Options.DisplayName, Locale: in.Options.Locale,
		Metadata: in.Options.Metadata, DefaultRole: in.Options.DefaultRole, AllowedRoles: in.Options.AllowedRoles})
	if err := json.Unmarshal(raw, &st.Options); err != nil {
		return "", fmt.Errorf("encode options: %w", err)
	}
	conf, err := p.oauth2Config(ctx, s.callbackURL(in.Provider))
	if err != nil {
		return "", &Error{Code: CodeOAuthProvider, Err: err}
	}
	state, err := newOpaqueToken()
	if err != nil {
		return "", err
	}
	st.StateHash = hashSecret(state)
	st.CodeVerifier = oauth2.GenerateVerifier()
	opts := append(p.authParams(), oauth2.S256ChallengeOption(st.CodeVerifier))
	if s.cfg.ProviderKeepTokens && p.def.Name == "google" {
		// Google hands a refresh token only to a client that asks for offline access.
		opts = append(opts, oauth2.AccessTypeOffline)
	}
	if p.def.OIDC {
		st.Nonce = randomURLString(24)
		opts = append(opts, oauth2.SetAuthURLParam("nonce", st.Nonce))
	}
	now := s.now()
	st.CreatedAt, st.ExpiresAt = now, now.Add(stateTTL)
	if err := s.store.CreateOAuthState(ctx, st); err != nil {
		return "", err
	}
	return conf.AuthCodeURL(string(state), opts...), nil
}

func randomURLString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// providerCallback is what the provider sent back.
type providerCallback struct {
	Provider           string
	State, Code        string
	Error, Description string
	AppleUser          string // Apple's form field with the user's name, on the first consent
}

// finishProviderSignIn completes a round trip and returns where to send the browser: the
// round trip's redirectTo with the session (or a one-time code), or with Nhost's error and
// description. Only failures of Latchkey itself (a database outage) are returned as errors.
func (s *Server) finishProviderSignIn(ctx context.Context, cb providerCallback) (string, error) {
	target := s.cfg.ClientURL
	q, err := s.providerCallback(ctx, cb, &target)
	var e *Error
	if err != nil {
		if !errors.As(err, &e) || e.Code == CodeInternal || e.Code == CodeUnavailable {
			return "", err
		}
		s.log.InfoContext(ctx, "provider sign-in refused", "provider", cb.Provider, "code", e.Code, "cause", e.Err)
		ne := s.nhostError(e.Code)
		q = url.Values{"error": {string(ne.code)}, "errorDescription": {ne.message}}
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", &Error{Code: CodeRedirectNotAllowed, Err: err}
	}
	have := u.Query()
	for k, v := range q {
		have[k] = v
	}
	u.RawQuery = have.Encode()
	return u.String(), nil
}

// providerCallback does the work of finishProviderSignIn and returns the query to add to
// *target, which it sets to the round trip's redirectTo once the state is known.
func (s *Server) providerCallback(ctx context.Context, cb providerCallback, target *string) (url.Values, error) {
	p, err := s.lookupProvider(cb.Provider)
	if err != nil {
		return nil, &Error{Code: CodeInvalidState, Err: err}
	}
	// The state is spent by any callback that presents it, whatever follows: a round trip is tried once.
	st, err := s.store.SpendOAuthState(ctx, hashSecret(secret(cb.State)), cb.Provider)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed), errors.Is(err, store.ErrExpired):
		return nil, &Error{Code: CodeInvalidState, Err: err}
	case err != nil:
		return nil, err
	}
	*target = st.RedirectTo
	if cb.Error != "" {
		return nil, &Error{Code: CodeOAuthProvider, Err: fmt.Errorf("provider answered %q: %q", cb.Error, cb.Description)}
	}
	if cb.Code == "" {
		return nil, &Error{Code: CodeOAuthProvider, Err: errors.New("no code")}
	}
	prof, tok, err := s.providerProfile(ctx, p, st, cb)
	if err != nil {
		return nil, err
	}
	var opts storedOptions
	raw, _ := json.Marshal(st.Options)
	if err := json.Unmarshal(raw, &opts); err != nil {
		return nil, fmt.Errorf("decode options: %w", err)
	}
	in := federatedSignIn{Provider: cb.Provider, Profile: prof, Tokens: tok, NoEmail: p.def.NoEmail, Options: profileOptions{
		DisplayName: opts.DisplayName, Locale: opts.Locale, Metadata: opts.Metadata, DefaultRole: opts.DefaultRole, AllowedRoles: opts.AllowedRoles}}
	if st.ConnectSessionID != nil {
		u, err := s.store.LiveSessionUser(ctx, *st.ConnectSessionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Code: CodeUnauthenticated, Err: errors.New("the session to link to has ended")}
		}
		if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, &Error{Code: CodeDisabledUser}
		}
		if err := s.linkIdentity(ctx, u, in, nil); err != nil {
			return nil, err
		}
		return url.Values{}, nil
	}
	in.CodeChallenge = st.CodeChallenge
	res, err := s.federate(ctx, in, nil)
	if err != nil {
		return nil, err
	}
	if res.Code != "" {
		return url.Values{"code": {string(res.Code)}}, nil
	}
	if res.Session.MFATicket != "" {
		// A user with a second factor finishes with POST /v1/signin/mfa/totp, as after a
		// mailed link: no refresh token travels.
		return url.Values{"mfaTicket": {string(res.Session.MFATicket)}}, nil
	}
	return url.Values{"refreshToken": {string(res.Session.RefreshToken)}}, nil
}

// providerProfile exchanges the code (with the PKCE verifier) and reads the account's profile:
// from the verified ID token for OpenID Connect providers, from the provider's API for the others.
func (s *Server) providerProfile(ctx context.Context, p *provider, st *store.OAuthState, cb providerCallback) (providerProfile, *oauth2.Token, error) {
	conf, err := p.oauth2Config(ctx, s.callbackURL(p.def.Name))
	if err != nil {
		return providerProfile{}, nil, &Error{Code: CodeOAuthProvider, Err: err}
	}
	if conf.ClientSecret, err = p.clientSecret(); err != nil {
		return providerProfile{}, nil, &Error{Code: CodeOAuthTokenExchange, Err: err}
	}
	tok, err := conf.Exchange(p.ctx(ctx), cb.Code, oauth2.VerifierOption(st.CodeVerifier))
	if err != nil {
		return providerProfile{}, nil, &Error{Code: CodeOAuthTokenExchange, Err: err}
	}
	var prof providerProfile
	if p.def.OIDC {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return providerProfile{}, nil, &Error{Code: CodeOAuthTokenExchange, Err: errors.New("no id_token in the token response")}
		}
		prof, _, err = p.verifyIDToken(ctx, raw, st.Nonce)
		if err != nil {
			return providerProfile{}, nil, &Error{Code: CodeOAuthProfileFetch, Err: err}
		}
		if p.def.Name == "apple" && cb.AppleUser != "" {
			var au struct {
				Name struct{ FirstName, LastName string } `json:"name"`
			}
			if json.Unmarshal([]byte(cb.AppleUser), &au) == nil {
				prof.DisplayName = strings.TrimSpace(au.Name.FirstName + " " + au.Name.LastName)
			}
		}
	} else {
		call := &apiCall{base: or(p.cfg.APIURL, p.def.APIURL), token: tok, client: p.client, clientID: p.cfg.ClientIDs[0]}
		prof, err = p.def.Profile(p.ctx(ctx), call)
		if err != nil {
			return providerProfile{}, nil, &Error{Code: CodeOAuthProfileFetch, Err: err}
		}
	}
	if prof.Subject == "" {
		return providerProfile{}, nil, &Error{Code: CodeOAuthProfileFetch, Err: errors.New("the profile has no id")}
	}
	if prof.Email == "" && !p.def.NoEmail {
		return providerProfile{}, nil, &Error{Code: CodeOAuthProfileFetch, Err: errors.New("the profile has no email address")}
	}
	return prof, tok, nil
}

// federatedSignIn is a provider account signing in (redirect flow or ID token).
type federatedSignIn struct {
	Provider      string
	Profile       providerProfile
	Tokens        *oauth2.Token // the provider's tokens (redirect flow); nil for an ID token
	NoEmail       bool
	Options       profileOptions
	CodeChallenge string // when set, a one-time code is issued instead of a session
}

// federated is the outcome of a federated sign-in: a session, or the one-time code of a PKCE
// sign-in.
type federated struct {
	Session *session
	Code    secret
}

// federate finds the user of a provider account, links it to the account with the same
// vouched address, or creates an account with the sign-up rules; and opens the session. also,
// when set, writes in the same transaction (an ID token's single use).
func (s *Server) federate(ctx context.Context, in federatedSignIn, also func(tx *store.Store) error) (*federated, error) {
	var (
		out    federated
		refuse error // a refusal that keeps what was written (an account created disabled)
	)
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		u, err := s.federatedUser(ctx, tx, in)
		if err != nil {
			return err
		}
		switch {
		case u.Disabled:
			refuse = &Error{Code: CodeDisabledUser}
			return nil
		case s.cfg.RequireVerifiedEmail && u.Email != nil && !u.EmailVerified:
			refuse = &Error{Code: CodeUnverifiedUser}
			return nil
		}
		if err := s.keepProviderTokens(ctx, tx, in.Provider, in.Profile.Subject, in.Tokens); err != nil {
			return err
		}
		if in.CodeChallenge != "" {
			out.Code, err = s.issueAuthCode(ctx, tx, u, in.CodeChallenge, methodProvider(in.Provider))
			return err
		}
		out.Session, err = s.openProviderSession(ctx, tx, u, methodProvider(in.Provider))
		return err
	})
	if err != nil {
		return nil, err
	}
	if refuse != nil {
		return nil, refuse
	}
	return &out, nil
}

// openProviderSession opens the session of a federated sign-in (redirect flow, ID token, PKCE
// code exchange). It is the one place such sessions open: a user with TOTP active gets the MFA
// challenge instead, as after a password.
func (s *Server) openProviderSession(ctx context.Context, tx *store.Store, u *store.User, method string) (*session, error) {
	ticket, err := s.secondFactorGate(ctx, tx, u, method, true)
	if err != nil {
		return nil, err
	}
	if ticket != "" {
		return mfaChallenge(u, ticket), nil
	}
	return s.openSession(ctx, tx, u, method)
}

// federatedUser returns the user a provider account signs in as, linking or creating it.
func (s *Server) federatedUser(ctx context.Context, tx *store.Store, in federatedSignIn) (*store.User, error) {
	prof := in.Profile
	id, err := tx.IdentityBySubject(ctx, in.Provider, prof.Subject)
	switch {
	case err == nil:
		return tx.UserByID(ctx, id.UserID)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if prof.Email != "" {
		u, err := tx.UserByEmail(ctx, prof.Email)
		switch {
		case err == nil:
			// Only an address both the provider and Latchkey have seen proven links accounts:
			// otherwise whoever made either account first could take the other.
			if !prof.EmailVerified || !u.EmailVerified || !s.cfg.ProviderLinkByEmail {
				return nil, &Error{Code: CodeEmailInUse, Err: fmt.Errorf("%s account with an address of another user (vouched %t)", in.Provider, prof.EmailVerified)}
			}
			return u, s.addIdentity(ctx, tx, u, in)
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	if s.cfg.DisableSignup {
		return nil, &Error{Code: CodeSignupDisabled}
	}
	name := or(prof.DisplayName, prof.Email)
	p, err := s.resolveProfile(in.Options, name)
	if err != nil {
		return nil, err
	}
	if in.Options.Locale == nil && len(prof.Locale) >= 2 {
		if l := strings.ToLower(prof.Locale[:2]); containsString(s.cfg.AllowedLocales, l) {
			p.Locale = l
		}
	}
	u := s.newUser(p)
	u.AvatarURL = prof.AvatarURL
	if prof.Email != "" {
		email := prof.Email
		u.Email, u.EmailVerified = &email, prof.EmailVerified
	}
	u.Disabled = s.cfg.DisableNewUsers
	if err := tx.CreateUser(ctx, u, p.Roles); err != nil {
		return nil, err
	}
	u.Roles = p.Roles
	if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": methodProvider(in.Provider)}}); err != nil {
		return nil, err
	}
	return u, s.addIdentity(ctx, tx, u, in)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// addIdentity links the provider account to u and records it.
func (s *Server) addIdentity(ctx context.Context, tx *store.Store, u *store.User, in federatedSignIn) error {
	err := tx.CreateIdentity(ctx, &store.ProviderIdentity{ID: uuid.New(), UserID: u.ID, Provider: in.Provider,
		Subject: in.Profile.Subject, Email: in.Profile.Email, CreatedAt: s.now()})
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return &Error{Code: CodeProviderLinked, Err: err}
	}
	if err != nil {
		return err
	}
	return s.record(ctx, tx, auditEvent{Action: auditProviderLink, User: u.ID, Detail: store.JSONMap{"provider": in.Provider}})
}

// linkIdentity links a provider account to the signed-in user u (connect, link/idtoken): done
// already is fine, another user's account is refused. also, when set, writes in the same
// transaction.
func (s *Server) linkIdentity(ctx context.Context, u *store.User, in federatedSignIn, also func(tx *store.Store) error) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		id, err := tx.IdentityBySubject(ctx, in.Provider, in.Profile.Subject)
		switch {
		case err == nil && id.UserID == u.ID:
		case err == nil:
			return &Error{Code: CodeProviderLinked}
		case !errors.Is(err, store.ErrNotFound):
			return err
		default:
			if err := s.addIdentity(ctx, tx, u, in); err != nil {
				return err
			}
		}
		return s.keepProviderTokens(ctx, tx, in.Provider, in.Profile.Subject, in.Tokens)
	})
}

// issueAuthCode stores the one-time code of a PKCE sign-in and returns it.
func (s *Server) issueAuthCode(ctx context.Context, tx *store.Store, u *store.User, challenge, method string) (secret, error) {
	code, err := newOpaqueToken()
	if err != nil {
		return "", err
	}
	now := s.now()
	err = tx.CreateAuthCode(ctx, &store.AuthCode{ID: uuid.New(), CodeHash: hashSecret(code), CodeChallenge: challenge,
		UserID: u.ID, Method: method, CreatedAt: now, ExpiresAt: now.Add(authCodeTTL)})
	return code, err
}

// --- ID tokens

// idTokenInput is an ID token an app obtained from a provider itself.
type idTokenInput struct {
	Provider string
	IDToken  secret
	Nonce    *string
	Options  profileOptions
}

// checkIDToken verifies an ID token for an ID-token provider and returns its profile and a write
// that records its single use.
func (s *Server) checkIDToken(ctx context.Context, in idTokenInput) (*provider, providerProfile, func(*store.Store) error, error) {
	p, err := s.lookupProvider(in.Provider)
	if err != nil {
		return nil, providerProfile{}, nil, err
	}
	if !p.def.IDTokens {
		return nil, providerProfile{}, nil, &Error{Code: CodeInvalidRequest, Err: fmt.Errorf("%s does not take ID tokens", in.Provider)}
	}
	nonce := ""
	if in.Nonce != nil && *in.Nonce != "" {
		nonce = *in.Nonce
		if p.def.Name == "apple" { // Apple's token carries the SHA-256 (hex) of the app's nonce
			sum := sha256.Sum256([]byte(nonce))
			nonce = hex.EncodeToString(sum[:])
		}
	}
	prof, tok, err := p.verifyIDToken(ctx, string(in.IDToken), nonce)
	if errors.Is(err, errIDToken) {
		return nil, providerProfile{}, nil, &Error{Code: CodeInvalidIDToken, Err: err}
	}
	if err != nil {
		return nil, providerProfile{}, nil, &Error{Code: CodeOAuthProvider, Err: err}
	}
	if prof.Email == "" {
		return nil, providerProfile{}, nil, &Error{Code: CodeInvalidIDToken, Err: errors.New("the token has no email address")}
	}
	// Single use is judged on what was signed (header and claims), not on the token's text: a
	// signature re-encoded with other trailing bits, or an ECDSA signature's twin (r, n-s),
	// verifies as well and would otherwise pass as a new token.
	signed := string(in.IDToken)
	signed = signed[:strings.LastIndexByte(signed, '.')]
	use := func(tx *store.Store) error {
		err := tx.UseIDToken(ctx, hashSecret(secret(signed)), in.Provider, tok.Expiry)
		if errors.Is(err, store.ErrAlreadyUsed) {
			return &Error{Code: CodeInvalidIDToken, Err: errors.New("id token replayed")}
		}
		return err
	}
	return p, prof, use, nil
}

// signInIDToken signs in (or up) with a provider's ID token.
func (s *Server) signInIDToken(ctx context.Context, in idTokenInput) (*session, error) {
	if _, err := s.resolveProfile(in.Options, ""); err != nil {
		return nil, err
	}
	p, prof, use, err := s.checkIDToken(ctx, in)
	if err != nil {
		return nil, err
	}
	res, err := s.federate(ctx, federatedSignIn{Provider: in.Provider, Profile: prof, NoEmail: p.def.NoEmail, Options: in.Options}, use)
	if err != nil {
		return nil, err
	}
	return res.Session, nil
}

// linkIDToken links the provider account of an ID token to the signed-in user.
func (s *Server) linkIDToken(ctx context.Context, pr *principal, in idTokenInput) error {
	_, prof, use, err := s.checkIDToken(ctx, in)
	if err != nil {
		return err
	}
	return s.linkIdentity(ctx, pr.User, federatedSignIn{Provider: in.Provider, Profile: prof}, use)
}

// exchangeAuthCode spends the one-time code of a PKCE sign-in and opens its session when the
// verifier matches the sign-in's challenge. A wrong verifier leaves the code as it was.
func (s *Server) exchangeAuthCode(ctx context.Context, code, verifier secret) (*session, error) {
	var out *session
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		c, err := tx.SpendAuthCode(ctx, hashSecret(code))
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyUsed), errors.Is(err, store.ErrExpired):
			return &Error{Code: CodeInvalidGrant, Err: err}
		case err != nil:
			return err
		}
		if !constantEqual(oauth2.S256ChallengeFromVerifier(string(verifier)), c.CodeChallenge) {
			return &Error{Code: CodeInvalidGrant, Err: errors.New("code verifier does not match the challenge")}
		}
		u, err := loadUsableUser(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		if strings.HasPrefix(c.Method, "provider:") {
			out, err = s.openProviderSession(ctx, tx, u, c.Method)
			return err
		}
		// A mailed link's code: the mailbox is a first factor, so a user with TOTP active gets
		// the MFA challenge here, as the link without PKCE gives it.
		ticket, err := s.secondFactorGate(ctx, tx, u, c.Method, true)
		if err != nil {
			return err
		}
		if ticket != "" {
			out = mfaChallenge(u, ticket)
			return nil
		}
		spec := s.nhostSpec(c.Method)
		spec.ForReset = c.Method == methodPasswordReset
		out, err = s.openSessionSpec(ctx, tx, u, spec)
		return err
	})
	return out, err
}

// codeChallengeKey carries the PKCE challenge of a request that mails a link.
type codeChallengeKey struct{}

// withCodeChallenge records the request's PKCE challenge (nil or empty: none) for the links it
// mails: their redirects then carry a one-time code instead of a refresh token.
func withCodeChallenge(ctx context.Context, challenge *string) context.Context {
	if challenge == nil || *challenge == "" {
		return ctx
	}
	return context.WithValue(ctx, codeChallengeKey{}, *challenge)
}

// codeChallengeFrom is the challenge withCodeChallenge recorded, or "".
func codeChallengeFrom(ctx context.Context) string {
	c, _ := ctx.Value(codeChallengeKey{}).(string)
	return c
}
