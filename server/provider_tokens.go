package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/store"
)

// Provider tokens kept at rest (LATCHKEY_PROVIDER_KEEP_TOKENS). Off (the default), Latchkey
// stores none of the access and refresh tokens a provider hands over: they are used to read the
// profile and dropped, and a sign-in through the provider removes any kept earlier. On, each
// sign-in through the redirect flow (and each connect) stores them on the provider link, sealed
// with the secrets key under a purpose naming the column and the link's row, so a value copied to
// another row or column does not open. A provider that sends no new refresh token leaves the
// kept one in place. ID-token sign-ins carry no provider tokens and leave the kept ones alone.
// The tokens go with the link: unlinking the provider or deleting the user removes them.

// providerTokenPurpose binds a sealed provider token to its column and link row.
func providerTokenPurpose(col store.SealedColumn, identityID uuid.UUID) string {
	return col.Purpose + ":" + identityID.String()
}

// keepProviderTokens stores (or, with the setting off, drops) the tokens of a sign-in through
// provider on the link of the provider account subject, in tx. tok nil (an ID-token sign-in)
// changes nothing.
func (s *Server) keepProviderTokens(ctx context.Context, tx *store.Store, provider, subject string, tok *oauth2.Token) error {
	if tok == nil {
		return nil
	}
	id, err := tx.IdentityBySubject(ctx, provider, subject)
	if err != nil {
		return fmt.Errorf("provider link for its tokens: %w", err)
	}
	if !s.cfg.ProviderKeepTokens {
		_, err := tx.DropIdentityTokens(ctx, id.ID)
		return err
	}
	if tok.AccessToken == "" {
		return nil
	}
	access, err := s.secrets.Seal([]byte(tok.AccessToken), providerTokenPurpose(store.ProviderAccessTokenColumn, id.ID))
	if err != nil {
		return err
	}
	keep := store.IdentityTokens{AccessToken: access}
	if tok.RefreshToken != "" {
		refresh, err := s.secrets.Seal([]byte(tok.RefreshToken), providerTokenPurpose(store.ProviderRefreshTokenColumn, id.ID))
		if err != nil {
			return err
		}
		keep.RefreshToken = &refresh
	}
	if !tok.Expiry.IsZero() {
		exp := tok.Expiry
		keep.AccessTokenExpiresAt = &exp
	}
	return tx.KeepIdentityTokens(ctx, id.ID, keep)
}

// ProviderTokens are the provider's tokens kept for a user's link, opened.
type ProviderTokens struct {
	AccessToken  string
	RefreshToken string    // "" when the provider never sent one
	Expiry       time.Time // of the access token; zero when the provider did not say
	UpdatedAt    time.Time // the sign-in that stored them
}

// ErrNoProviderTokens is ProviderTokens' answer for a link without kept tokens, a user without
// that link, or a server that does not keep tokens.
var ErrNoProviderTokens = errors.New("no provider tokens kept")

// ProviderTokens opens the tokens kept for userID's link to provider: the hook for features
// that call the provider's API on the user's behalf. Never log or return them to clients.
func (s *Server) ProviderTokens(ctx context.Context, userID uuid.UUID, provider string) (*ProviderTokens, error) {
	if s.secrets == nil {
		return nil, ErrNoProviderTokens
	}
	id, err := s.store.UserIdentity(ctx, userID, provider)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoProviderTokens
	}
	if err != nil {
		return nil, err
	}
	if id.AccessToken == nil {
		return nil, ErrNoProviderTokens
	}
	out := &ProviderTokens{}
	plain, err := s.secrets.Open(*id.AccessToken, providerTokenPurpose(store.ProviderAccessTokenColumn, id.ID))
	if err != nil {
		return nil, fmt.Errorf("open the kept access token of link %s: %w", id.ID, err)
	}
	out.AccessToken = string(plain)
	if id.RefreshToken != nil {
		plain, err := s.secrets.Open(*id.RefreshToken, providerTokenPurpose(store.ProviderRefreshTokenColumn, id.ID))
		if err != nil {
			return nil, fmt.Errorf("open the kept refresh token of link %s: %w", id.ID, err)
		}
		out.RefreshToken = string(plain)
	}
	if id.AccessTokenExpiresAt != nil {
		out.Expiry = *id.AccessTokenExpiresAt
	}
	if id.TokensUpdatedAt != nil {
		out.UpdatedAt = *id.TokensUpdatedAt
	}
	return out, nil
}
