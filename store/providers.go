package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ProviderIdentity is an account at an external provider (GitHub, Google, …) linked to a user:
// signing in with that account signs the user in.
type ProviderIdentity struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	Provider  string
	Subject   string // the account's id at the provider
	Email     string // the address the provider gave when the link was made
	CreatedAt time.Time
	// The provider's tokens from the latest sign-in through it, sealed (ProviderAccessTokenColumn,
	// ProviderRefreshTokenColumn); nil when not kept (LATCHKEY_PROVIDER_KEEP_TOKENS off).
	AccessToken          *string `json:"-"`
	RefreshToken         *string `json:"-"`
	AccessTokenExpiresAt *time.Time
	TokensUpdatedAt      *time.Time
}

// TokensKept reports whether provider tokens are stored for this link.
func (id *ProviderIdentity) TokensKept() bool { return id.AccessToken != nil || id.RefreshToken != nil }

// The sealed columns of provider tokens; each value is bound to its provider_identities row.
var (
	ProviderAccessTokenColumn  = SealedColumn{Table: "provider_identities", Column: "access_token", Purpose: "provider_identities.access_token"}
	ProviderRefreshTokenColumn = SealedColumn{Table: "provider_identities", Column: "refresh_token", Purpose: "provider_identities.refresh_token"}
)

// TableName is the provider_identities table.
func (ProviderIdentity) TableName() string { return "provider_identities" }

// OAuthState is one round trip to a provider under way: started on any instance, finished on
// any instance, used once.
type OAuthState struct {
	ID               uuid.UUID
	StateHash        []byte `json:"-"`
	Provider         string
	CodeVerifier     string `json:"-"` // the PKCE verifier, read back to redeem the code
	Nonce            string
	RedirectTo       string
	Options          JSONMap // sign-up options for an account the callback creates
	ConnectSessionID *uuid.UUID
	CodeChallenge    string // the application's PKCE challenge: the sign-in ends with a one-time code
	CreatedAt        time.Time
	ExpiresAt        time.Time
	UsedAt           *time.Time
}

// TableName is the oauth_states table.
func (OAuthState) TableName() string { return "oauth_states" }

// IDTokenUse records a provider ID token that was accepted, so it is accepted once.
type IDTokenUse struct {
	TokenHash []byte `gorm:"primaryKey"`
	Provider  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName is the id_token_uses table.
func (IDTokenUse) TableName() string { return "id_token_uses" }

// AuthCode is the one-time code a sign-in that carried a PKCE challenge hands to the browser;
// the code and the verifier together open the session.
type AuthCode struct {
	ID            uuid.UUID
	CodeHash      []byte `json:"-"`
	CodeChallenge string
	UserID        uuid.UUID
	Method        string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

// TableName is the auth_codes table.
func (AuthCode) TableName() string { return "auth_codes" }

// CreateOAuthState stores a round trip.
func (s *Store) CreateOAuthState(ctx context.Context, st *OAuthState) error {
	if err := translate(s.w(ctx).Create(st).Error); err != nil {
		return fmt.Errorf("insert oauth state: %w", err)
	}
	return nil
}

// SpendOAuthState uses the round trip with this state hash, if it was started for provider and
// is neither used nor expired. One guarded update decides, so of two callbacks with one state
// exactly one proceeds. A state of another provider is ErrNotFound and stays usable; a used one
// ErrAlreadyUsed; a late one ErrExpired.
func (s *Store) SpendOAuthState(ctx context.Context, stateHash []byte, provider string) (*OAuthState, error) {
	now := s.now()
	res := s.w(ctx).Model(&OAuthState{}).
		Where("state_hash = ? AND provider = ? AND used_at IS NULL AND expires_at > ?", stateHash, provider, now).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("spend oauth state: %w", res.Error)
	}
	var st OAuthState
	if err := s.w(ctx).Where("state_hash = ? AND provider = ?", stateHash, provider).Take(&st).Error; err != nil {
		return nil, translate(err)
	}
	switch {
	case res.RowsAffected == 1:
		return &st, nil
	case st.UsedAt == nil && !st.ExpiresAt.After(now):
		return nil, ErrExpired
	default:
		return nil, ErrAlreadyUsed
	}
}

// IdentityBySubject finds the link of the provider account (provider, subject).
func (s *Store) IdentityBySubject(ctx context.Context, provider, subject string) (*ProviderIdentity, error) {
	var id ProviderIdentity
	if err := s.w(ctx).Where("provider = ? AND subject = ?", provider, subject).Take(&id).Error; err != nil {
		return nil, translate(err)
	}
	return &id, nil
}

// CreateIdentity links a provider account to a user. A provider account already linked is a
// ConflictError on "identity".
func (s *Store) CreateIdentity(ctx context.Context, id *ProviderIdentity) error {
	if err := translate(s.w(ctx).Create(id).Error); err != nil {
		return fmt.Errorf("insert provider identity: %w", err)
	}
	return nil
}

// UserIdentities lists the provider accounts linked to a user, oldest first.
func (s *Store) UserIdentities(ctx context.Context, userID uuid.UUID) ([]ProviderIdentity, error) {
	var out []ProviderIdentity
	if err := s.r(ctx).Where("user_id = ?", userID).Order("created_at, provider").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list provider identities: %w", err)
	}
	return out, nil
}

// IdentityTokens are the sealed provider tokens to keep on a link. A nil RefreshToken keeps
// the one stored: providers such as Google hand a refresh token only on the first consent.
type IdentityTokens struct {
	AccessToken          string
	RefreshToken         *string
	AccessTokenExpiresAt *time.Time
}

// KeepIdentityTokens stores sealed provider tokens on the link id. An unknown link is
// ErrNotFound.
func (s *Store) KeepIdentityTokens(ctx context.Context, id uuid.UUID, t IdentityTokens) error {
	set := map[string]any{"access_token": t.AccessToken, "access_token_expires_at": utcPtr(t.AccessTokenExpiresAt),
		"tokens_updated_at": s.now()}
	if t.RefreshToken != nil {
		set["refresh_token"] = *t.RefreshToken
	}
	if err := notFoundIfNone(s.w(ctx).Model(&ProviderIdentity{}).Where("id = ?", id).UpdateColumns(set)); err != nil {
		return fmt.Errorf("keep provider tokens: %w", err)
	}
	return nil
}

// DropIdentityTokens removes any provider tokens stored on the link id (writing nothing when
// there are none) and reports whether there were.
func (s *Store) DropIdentityTokens(ctx context.Context, id uuid.UUID) (bool, error) {
	res := s.w(ctx).Model(&ProviderIdentity{}).
		Where("id = ? AND (access_token IS NOT NULL OR refresh_token IS NOT NULL OR access_token_expires_at IS NOT NULL)", id).
		UpdateColumns(map[string]any{"access_token": nil, "refresh_token": nil, "access_token_expires_at": nil, "tokens_updated_at": nil})
	if res.Error != nil {
		return false, fmt.Errorf("drop provider tokens: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// UserIdentity finds the user's link to provider (the first, should there be several).
func (s *Store) UserIdentity(ctx context.Context, userID uuid.UUID, provider string) (*ProviderIdentity, error) {
	var id ProviderIdentity
	if err := s.w(ctx).Where("user_id = ? AND provider = ?", userID, provider).Order("created_at, id").Take(&id).Error; err != nil {
		return nil, translate(err)
	}
	return &id, nil
}

// DeleteUserIdentities removes the user's links to provider and returns them; none is
// ErrNotFound.
func (s *Store) DeleteUserIdentities(ctx context.Context, userID uuid.UUID, provider string) ([]ProviderIdentity, error) {
	var out []ProviderIdentity
	if err := s.w(ctx).Where("user_id = ? AND provider = ?", userID, provider).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("find provider identities: %w", err)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	if err := s.w(ctx).Where("user_id = ? AND provider = ?", userID, provider).Delete(&ProviderIdentity{}).Error; err != nil {
		return nil, fmt.Errorf("delete provider identities: %w", err)
	}
	return out, nil
}

// UseIDToken records that the ID token with this hash was accepted. A token seen before is
// ErrAlreadyUsed.
func (s *Store) UseIDToken(ctx context.Context, tokenHash []byte, provider string, expiresAt time.Time) error {
	err := translate(s.w(ctx).Create(&IDTokenUse{TokenHash: tokenHash, Provider: provider, CreatedAt: s.now(), ExpiresAt: expiresAt.UTC()}).Error)
	var ce *ConflictError
	if errors.As(err, &ce) {
		return ErrAlreadyUsed
	}
	if err != nil {
		return fmt.Errorf("record id token: %w", err)
	}
	return nil
}

// CreateAuthCode stores a PKCE sign-in's one-time code.
func (s *Store) CreateAuthCode(ctx context.Context, c *AuthCode) error {
	if err := translate(s.w(ctx).Create(c).Error); err != nil {
		return fmt.Errorf("insert auth code: %w", err)
	}
	return nil
}

// SpendAuthCode uses the code with this hash when it is neither used nor expired (one guarded
// update). A used code is ErrAlreadyUsed, a late one ErrExpired, an unknown one ErrNotFound.
func (s *Store) SpendAuthCode(ctx context.Context, codeHash []byte) (*AuthCode, error) {
	now := s.now()
	res := s.w(ctx).Model(&AuthCode{}).Where("code_hash = ? AND used_at IS NULL AND expires_at > ?", codeHash, now).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("spend auth code: %w", res.Error)
	}
	var c AuthCode
	if err := s.w(ctx).Where("code_hash = ?", codeHash).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	switch {
	case res.RowsAffected == 1:
		return &c, nil
	case c.UsedAt == nil && !c.ExpiresAt.After(now):
		return nil, ErrExpired
	default:
		return nil, ErrAlreadyUsed
	}
}

// purgeFederation deletes round trips, accepted ID tokens and sign-in codes that can no longer
// be used.
func (s *Store) purgeFederation(ctx context.Context, now, spentBefore time.Time) (int64, error) {
	var n int64
	for _, m := range []any{&OAuthState{}, &AuthCode{}} {
		res := s.w(ctx).Where("expires_at <= ? OR used_at < ?", now, spentBefore).Delete(m)
		if res.Error != nil {
			return n, fmt.Errorf("purge %T: %w", m, res.Error)
		}
		n += res.RowsAffected
	}
	res := s.w(ctx).Where("expires_at <= ?", now).Delete(&IDTokenUse{})
	if res.Error != nil {
		return n, fmt.Errorf("purge id token uses: %w", res.Error)
	}
	return n + res.RowsAffected, nil
}

// ForgetUnprovenWaysIn removes every provider link and security key of the user, for an account
// recovery that proves the address for the first time (see the server's forgetUnprovenWaysIn),
// and returns how many of each went.
func (s *Store) ForgetUnprovenWaysIn(ctx context.Context, userID uuid.UUID) (links, keys int64, err error) {
	res := s.w(ctx).Where("user_id = ?", userID).Delete(&ProviderIdentity{})
	if res.Error != nil {
		return 0, 0, fmt.Errorf("delete provider identities: %w", res.Error)
	}
	links = res.RowsAffected
	res = s.w(ctx).Where("user_id = ?", userID).Delete(&WebAuthnCredential{})
	if res.Error != nil {
		return 0, 0, fmt.Errorf("delete webauthn credentials: %w", res.Error)
	}
	return links, res.RowsAffected, nil
}
