package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// WebAuthnConfig is how security keys and passkeys work (LATCHKEY_WEBAUTHN_*).
type WebAuthnConfig struct {
	Enabled     bool
	RPName      string   // shown by browsers; "" is the app name
	RPID        string   // the domain keys are bound to; "" is the client URL's host
	RPOrigins   []string // origins whose pages may run ceremonies; empty is the client URL's origin
	Attestation string   // none (default), indirect, direct or enterprise
}

// ceremonyTTL is how long a begun ceremony can be finished.
const ceremonyTTL = 5 * time.Minute

// Ceremony kinds: a challenge answers only the kind of ceremony it was begun for.
const (
	ceremonySignUp  = "signup"
	ceremonySignIn  = "signin"
	ceremonyAdd     = "add"
	ceremonyElevate = "elevate"
)

// Audit actions of security keys.
const (
	auditSecurityKeyAdd    = "security_key.add"
	auditSecurityKeyDelete = "security_key.delete"
	auditSecurityKeyClone  = "security_key.possible_clone"
	auditElevate           = "session.elevate"
	methodWebAuthn         = "webauthn"
)

// newWebAuthn builds the relying party from the configuration, defaulting the name to the app's
// and the id and origin to the client URL's.
func newWebAuthn(cfg Config) (*webauthn.WebAuthn, error) {
	w := cfg.WebAuthn
	name := w.RPName
	if name == "" {
		name = cfg.AppName
	}
	rpID, origins := w.RPID, w.RPOrigins
	if rpID == "" || len(origins) == 0 {
		u, err := url.Parse(cfg.ClientURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("webauthn: no relying party id or origin, and the client URL %q gives none", cfg.ClientURL)
		}
		if rpID == "" {
			rpID = u.Hostname()
		}
		if len(origins) == 0 {
			origins = []string{u.Scheme + "://" + u.Host}
		}
	}
	att := protocol.ConveyancePreference(w.Attestation)
	if att == "" {
		att = protocol.PreferNoAttestation
	}
	return webauthn.New(&webauthn.Config{
		RPID:                  rpID,
		RPDisplayName:         name,
		RPOrigins:             origins,
		AttestationPreference: att,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: false, Timeout: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: false, Timeout: ceremonyTTL},
		},
	})
}

// waUser is a user as go-webauthn sees one. Its handle is the user id's text, as Nhost's.
type waUser struct {
	id          uuid.UUID
	name, shown string
	creds       []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id.String()) }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.shown }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// storedKeys are a user's keys, by row and as go-webauthn credentials (index for index).
type storedKeys struct {
	rows  []store.WebAuthnCredential
	creds []webauthn.Credential
}

func (s *Server) loadKeys(ctx context.Context, st *store.Store, userID uuid.UUID) (*storedKeys, error) {
	rows, err := st.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	k := &storedKeys{rows: rows, creds: make([]webauthn.Credential, len(rows))}
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r.Credential), &k.creds[i]); err != nil {
			return nil, fmt.Errorf("decode security key %s: %w", r.ID, err)
		}
		k.creds[i].Authenticator.SignCount = uint32(r.SignCount) // the column is the authority
	}
	return k, nil
}

func (k *storedKeys) byCredentialID(id []byte) (store.WebAuthnCredential, bool) {
	for _, r := range k.rows {
		if bytes.Equal(r.CredentialID, id) {
			return r, true
		}
	}
	return store.WebAuthnCredential{}, false
}

func userWA(u *store.User, keys *storedKeys) *waUser {
	name := ""
	if u.Email != nil {
		name = *u.Email
	} else if u.Username != nil {
		name = *u.Username
	}
	shown := u.DisplayName
	if shown == "" {
		shown = name
	}
	w := &waUser{id: u.ID, name: name, shown: shown}
	if keys != nil {
		w.creds = keys.creds
	}
	return w
}

// webAuthnEnabled refuses every WebAuthn operation while the feature is off, as Nhost does.
func (s *Server) webAuthnEnabled() error {
	if !s.cfg.WebAuthn.Enabled || s.wa == nil {
		return &Error{Code: CodeDisabledEndpoint}
	}
	return nil
}

func challengeHash(challenge string) []byte {
	sum := sha256.Sum256([]byte(challenge))
	return sum[:]
}

// beginCeremony stores the state of a begun ceremony. The library's own expiry (on the wall
// clock) is cleared: the row's expires_at, on the server's clock, decides.
func (s *Server) beginCeremony(ctx context.Context, kind string, userID *uuid.UUID, sd *webauthn.SessionData, data any) error {
	sd.Expires = time.Time{}
	sdJSON, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("encode ceremony: %w", err)
	}
	dataJSON := []byte("{}")
	if data != nil {
		if dataJSON, err = json.Marshal(data); err != nil {
			return fmt.Errorf("encode ceremony data: %w", err)
		}
	}
	now := s.now()
	return s.store.CreateWebAuthnCeremony(ctx, &store.WebAuthnCeremony{ID: uuid.New(), Kind: kind, UserID: userID,
		ChallengeHash: challengeHash(sd.Challenge), SessionData: store.JSONText(sdJSON), Data: store.JSONText(dataJSON),
		CreatedAt: now, ExpiresAt: now.Add(ceremonyTTL)})
}

// findCeremony loads the pending ceremony of kind that challenge belongs to: a challenge that
// is unknown, spent, expired or of another kind is refused alike.
func (s *Server) findCeremony(ctx context.Context, kind, challenge string) (*store.WebAuthnCeremony, *webauthn.SessionData, error) {
	c, err := s.store.WebAuthnCeremonyByChallenge(ctx, kind, challengeHash(challenge))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &Error{Code: CodeInvalidSecurityKey, Err: errors.New("no pending ceremony for the challenge")}
	}
	if err != nil {
		return nil, nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(c.SessionData), &sd); err != nil {
		return nil, nil, fmt.Errorf("decode ceremony: %w", err)
	}
	return c, &sd, nil
}

// spendCeremony spends c in tx; a ceremony another request finished first is refused.
func spendCeremony(ctx context.Context, tx *store.Store, c *store.WebAuthnCeremony) error {
	err := tx.SpendWebAuthnCeremony(ctx, c.ID)
	if errors.Is(err, store.ErrAlreadyUsed) {
		return &Error{Code: CodeInvalidSecurityKey, Err: errors.New("ceremony already finished")}
	}
	return err
}

func invalidKey(err error) error {
	return &Error{Code: CodeInvalidSecurityKey, Err: err}
}

// signUpCeremony is what a sign-up carries from its beginning to its end.
type signUpCeremony struct {
	UserID  uuid.UUID       `json:"userId"`
	Email   string          `json:"email"`
	Options json.RawMessage `json:"options,omitempty"`
}

// beginWebAuthnSignUp starts registering the first key of an account not yet created.
func (s *Server) beginWebAuthnSignUp(ctx context.Context, email string, options *gen.SignUpOptions) (*protocol.PublicKeyCredentialCreationOptions, error) {
	o := profileFromNhost(options)
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	if s.cfg.DisableSignup {
		return nil, &Error{Code: CodeSignupDisabled}
	}
	p, err := s.resolveProfile(o, email)
	if err != nil {
		return nil, err
	}
	if _, err := s.redirectTarget(o.RedirectTo); err != nil {
		return nil, err
	}
	if !s.cfg.ConcealErrors {
		_, err := s.store.UserByEmail(ctx, email)
		switch {
		case err == nil:
			return nil, &Error{Code: CodeEmailInUse}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	data := signUpCeremony{UserID: uuid.New(), Email: email}
	if options != nil {
		if data.Options, err = json.Marshal(options); err != nil {
			return nil, err
		}
	}
	wu := &waUser{id: data.UserID, name: email, shown: p.DisplayName}
	creation, sd, err := s.wa.BeginRegistration(wu)
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	if err := s.beginCeremony(ctx, ceremonySignUp, nil, sd, data); err != nil {
		return nil, err
	}
	return &creation.Response, nil
}

// finishWebAuthnSignUp checks the new key and creates the account with it; o, when set,
// replaces the options given at the beginning.
func (s *Server) finishWebAuthnSignUp(ctx context.Context, ccr protocol.CredentialCreationResponse, options *gen.SignUpOptions, nickname *string) (*session, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	parsed, err := ccr.Parse()
	if err != nil {
		return nil, invalidKey(err)
	}
	c, sd, err := s.findCeremony(ctx, ceremonySignUp, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, err
	}
	var data signUpCeremony
	if err := json.Unmarshal([]byte(c.Data), &data); err != nil {
		return nil, fmt.Errorf("decode sign-up ceremony: %w", err)
	}
	if options == nil && len(data.Options) > 0 {
		options = new(gen.SignUpOptions)
		if err := json.Unmarshal(data.Options, options); err != nil {
			return nil, fmt.Errorf("decode sign-up options: %w", err)
		}
	}
	opts := profileFromNhost(options)
	p, err := s.resolveProfile(opts, data.Email)
	if err != nil {
		return nil, err
	}
	target, err := s.redirectTarget(opts.RedirectTo)
	if err != nil {
		return nil, err
	}
	wu := &waUser{id: data.UserID, name: data.Email, shown: p.DisplayName}
	cred, err := s.wa.CreateCredential(wu, *sd, parsed)
	if err != nil {
		return nil, invalidKey(err)
	}
	u := s.newUser(p)
	u.ID = data.UserID
	u.Email = &data.Email
	u.Disabled = s.cfg.DisableNewUsers
	out, err := s.createEmailAccount(ctx, u, p.Roles, data.Email, target, methodWebAuthn,
		func(tx *store.Store) error { return spendCeremony(ctx, tx, c) },
		func(tx *store.Store) error { _, err := s.storeKey(ctx, tx, u.ID, cred, nickname); return err })
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "credential" {
		return nil, invalidKey(err)
	}
	return out, err
}

// storeKey stores a verified new key of a user.
func (s *Server) storeKey(ctx context.Context, tx *store.Store, userID uuid.UUID, cred *webauthn.Credential, nickname *string) (uuid.UUID, error) {
	b, err := json.Marshal(cred)
	if err != nil {
		return uuid.Nil, fmt.Errorf("encode security key: %w", err)
	}
	if nickname != nil && *nickname == "" {
		nickname = nil
	}
	row := &store.WebAuthnCredential{ID: uuid.New(), UserID: userID, CredentialID: cred.ID, Nickname: nickname,
		Credential: store.JSONText(b), SignCount: int64(cred.Authenticator.SignCount), CreatedAt: s.now()}
	if err := tx.CreateWebAuthnCredential(ctx, row); err != nil {
		return uuid.Nil, err
	}
	return row.ID, nil
}

// beginWebAuthnSignIn starts a sign-in: with an address, for that account's keys; without,
// for any passkey of this site. An address without an account or keys gets passkey options
// rather than an error (as a passkey it holds may still answer them).
func (s *Server) beginWebAuthnSignIn(ctx context.Context, email string) (*protocol.PublicKeyCredentialRequestOptions, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	if email != "" {
		u, err := s.store.UserByEmail(ctx, email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			keys, err := s.loadKeys(ctx, s.store, u.ID)
			if err != nil {
				return nil, err
			}
			if len(keys.creds) > 0 {
				return s.beginAssertion(ctx, ceremonySignIn, u, keys)
			}
		}
	}
	assertion, sd, err := s.wa.BeginDiscoverableLogin()
	if err != nil {
		return nil, fmt.Errorf("begin webauthn login: %w", err)
	}
	if err := s.beginCeremony(ctx, ceremonySignIn, nil, sd, nil); err != nil {
		return nil, err
	}
	return &assertion.Response, nil
}

// beginAssertion starts an assertion by one of u's keys.
func (s *Server) beginAssertion(ctx context.Context, kind string, u *store.User, keys *storedKeys) (*protocol.PublicKeyCredentialRequestOptions, error) {
	assertion, sd, err := s.wa.BeginLogin(userWA(u, keys))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn login: %w", err)
	}
	if err := s.beginCeremony(ctx, kind, &u.ID, sd, nil); err != nil {
		return nil, err
	}
	return &assertion.Response, nil
}

// assertion is a checked assertion: whose key signed, and the counter to record.
type assertion struct {
	ceremony *store.WebAuthnCeremony
	user     *store.User
	key      store.WebAuthnCredential
	count    int64
}

// checkAssertion verifies an assertion against a pending ceremony of kind. For a ceremony bound
// to a user, only that user's keys answer it, and only when forUser (the caller) is that user.
// A counter that went back is refused and audited (a possibly cloned key).
func (s *Server) checkAssertion(ctx context.Context, kind string, car protocol.CredentialAssertionResponse, forUser *uuid.UUID) (*assertion, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	parsed, err := car.Parse()
	if err != nil {
		return nil, invalidKey(err)
	}
	c, sd, err := s.findCeremony(ctx, kind, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, err
	}
	if forUser != nil && (c.UserID == nil || *c.UserID != *forUser) {
		return nil, invalidKey(errors.New("the challenge was begun by another user"))
	}
	var (
		u    *store.User
		keys *storedKeys
		cred *webauthn.Credential
	)
	if c.UserID != nil {
		if u, err = s.store.UserByID(ctx, *c.UserID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, invalidKey(err)
			}
			return nil, err
		}
		if keys, err = s.loadKeys(ctx, s.store, u.ID); err != nil {
			return nil, err
		}
		cred, err = s.wa.ValidateLogin(userWA(u, keys), *sd, parsed)
	} else {
		var lookupErr error
		cred, err = s.wa.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			id, err := uuid.Parse(string(handle))
			if err != nil {
				return nil, err
			}
			if u, err = s.store.UserByID(ctx, id); err != nil {
				lookupErr = err
				return nil, err
			}
			if keys, err = s.loadKeys(ctx, s.store, u.ID); err != nil {
				lookupErr = err
				return nil, err
			}
			return userWA(u, keys), nil
		}, *sd, parsed)
		if lookupErr != nil && !errors.Is(lookupErr, store.ErrNotFound) {
			return nil, lookupErr
		}
	}
	if err != nil {
		return nil, invalidKey(err)
	}
	row, ok := keys.byCredentialID(cred.ID)
	if !ok {
		return nil, invalidKey(errors.New("credential not among the user's keys"))
	}
	if cred.Authenticator.CloneWarning {
		if err := s.record(ctx, s.store, auditEvent{Action: auditSecurityKeyClone, Failed: true, User: u.ID,
			Detail: store.JSONMap{"key_id": row.ID.String(), "stored_count": row.SignCount,
				"presented_count": parsed.Response.AuthenticatorData.Counter}}); err != nil {
			return nil, err
		}
		return nil, invalidKey(errors.New("signature counter went back: possibly cloned key"))
	}
	return &assertion{ceremony: c, user: u, key: row, count: int64(cred.Authenticator.SignCount)}, nil
}

// spendAssertion spends the ceremony and records the key's use, in tx.
func spendAssertion(ctx context.Context, tx *store.Store, a *assertion) error {
	if err := spendCeremony(ctx, tx, a.ceremony); err != nil {
		return err
	}
	err := tx.UseWebAuthnCredential(ctx, a.key.ID, a.key.SignCount, a.count)
	if errors.Is(err, store.ErrAlreadyUsed) {
		return invalidKey(errors.New("the key was used meanwhile"))
	}
	return err
}

// finishWebAuthnSignIn checks a sign-in assertion and opens a session.
func (s *Server) finishWebAuthnSignIn(ctx context.Context, car protocol.CredentialAssertionResponse) (*session, error) {
	a, err := s.checkAssertion(ctx, ceremonySignIn, car, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case a.user.Disabled:
		return nil, &Error{Code: CodeDisabledUser}
	case s.cfg.RequireVerifiedEmail && !a.user.EmailVerified:
		return nil, &Error{Code: CodeUnverifiedUser}
	}
	var out *session
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := spendAssertion(ctx, tx, a); err != nil {
			return err
		}
		// A security key is one factor like a password: a user with TOTP active proves it too.
		// Otherwise whoever held the user's access token for a moment could add a key of their
		// own and sign in with it alone from then on.
		ticket, err := s.secondFactorGate(ctx, tx, a.user, methodWebAuthn, true)
		if err != nil {
			return err
		}
		if ticket != "" {
			out = mfaChallenge(a.user, ticket)
			return nil
		}
		out, err = s.openSession(ctx, tx, a.user, methodWebAuthn)
		return err
	})
	return out, err
}

// beginElevation starts the step-up check of the caller with one of their keys.
func (s *Server) beginElevation(ctx context.Context, p *principal) (*protocol.PublicKeyCredentialRequestOptions, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	keys, err := s.loadKeys(ctx, s.store, p.User.ID)
	if err != nil {
		return nil, err
	}
	if len(keys.creds) == 0 {
		return nil, &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Reason: "the user has no security key"}}}
	}
	return s.beginAssertion(ctx, ceremonyElevate, p.User, keys)
}

// finishElevation checks the caller's assertion and opens a session whose access token is
// elevated, as Nhost does: the elevation lives as long as that access token.
func (s *Server) finishElevation(ctx context.Context, p *principal, car protocol.CredentialAssertionResponse) (*session, error) {
	a, err := s.checkAssertion(ctx, ceremonyElevate, car, &p.User.ID)
	if err != nil {
		return nil, err
	}
	u := a.user
	if u.Disabled {
		return nil, &Error{Code: CodeDisabledUser}
	}
	var out *session
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := spendAssertion(ctx, tx, a); err != nil {
			return err
		}
		var err error
		if out, err = s.openSession(ctx, tx, u, methodWebAuthn); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditElevate, User: u.ID, Session: out.ID,
			Detail: store.JSONMap{"key_id": a.key.ID.String()}})
	})
	if err != nil {
		return nil, err
	}
	access, expiresIn, err := s.mintAccess(u, out.Roles, out.ID, s.cfg.AccessTokenTTL, true)
	if err != nil {
		return nil, err
	}
	out.AccessToken, out.AccessExpiresIn = access, expiresIn
	return out, nil
}

// beginAddKey starts registering another key of the caller.
func (s *Server) beginAddKey(ctx context.Context, p *principal) (*protocol.PublicKeyCredentialCreationOptions, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return nil, err
	}
	if p.User.IsAnonymous {
		return nil, &Error{Code: CodeForbiddenAnonymous}
	}
	if err := s.requireElevation(ctx, p, true); err != nil {
		return nil, err
	}
	keys, err := s.loadKeys(ctx, s.store, p.User.ID)
	if err != nil {
		return nil, err
	}
	creation, sd, err := s.wa.BeginRegistration(userWA(p.User, keys),
		webauthn.WithExclusions(webauthn.Credentials(keys.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("begin webauthn registration: %w", err)
	}
	if err := s.beginCeremony(ctx, ceremonyAdd, &p.User.ID, sd, nil); err != nil {
		return nil, err
	}
	return &creation.Response, nil
}

// finishAddKey checks the caller's new key and stores it.
func (s *Server) finishAddKey(ctx context.Context, p *principal, ccr protocol.CredentialCreationResponse, nickname *string) (uuid.UUID, error) {
	if err := s.webAuthnEnabled(); err != nil {
		return uuid.Nil, err
	}
	if p.User.IsAnonymous {
		return uuid.Nil, &Error{Code: CodeForbiddenAnonymous}
	}
	if err := s.requireElevation(ctx, p, true); err != nil {
		return uuid.Nil, err
	}
	parsed, err := ccr.Parse()
	if err != nil {
		return uuid.Nil, invalidKey(err)
	}
	c, sd, err := s.findCeremony(ctx, ceremonyAdd, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return uuid.Nil, err
	}
	if c.UserID == nil || *c.UserID != p.User.ID {
		return uuid.Nil, invalidKey(errors.New("the challenge was begun by another user"))
	}
	keys, err := s.loadKeys(ctx, s.store, p.User.ID)
	if err != nil {
		return uuid.Nil, err
	}
	cred, err := s.wa.CreateCredential(userWA(p.User, keys), *sd, parsed)
	if err != nil {
		return uuid.Nil, invalidKey(err)
	}
	var id uuid.UUID
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := spendCeremony(ctx, tx, c); err != nil {
			return err
		}
		var err error
		if id, err = s.storeKey(ctx, tx, p.User.ID, cred, nickname); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditSecurityKeyAdd, User: p.User.ID, Session: p.SessionID,
			Detail: store.JSONMap{"key_id": id.String()}})
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "credential" {
		return uuid.Nil, invalidKey(err)
	}
	return id, err
}

// deleteKey removes a key of the caller.
func (s *Server) deleteKey(ctx context.Context, p *principal, id uuid.UUID) error {
	if err := s.requireElevated(ctx, p); err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		err := tx.DeleteWebAuthnCredential(ctx, p.User.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Code: CodeNotFound, Err: errors.New("the caller has no security key with that id")}
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditSecurityKeyDelete, User: p.User.ID, Session: p.SessionID,
			Detail: store.JSONMap{"key_id": id.String()}})
	})
}
