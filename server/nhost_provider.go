package server

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// SignInProvider implements GET /v1/signin/provider/{provider} (Nhost).
func (s *Server) SignInProvider(ctx context.Context, req gen.SignInProviderRequestObject) (gen.SignInProviderResponseObject, error) {
	p := req.Params
	o := profileOptions{DisplayName: p.DisplayName, Locale: p.Locale, DefaultRole: p.DefaultRole, AllowedRoles: p.AllowedRoles, RedirectTo: p.RedirectTo}
	if p.Metadata != nil {
		if err := json.Unmarshal([]byte(*p.Metadata), &o.Metadata); err != nil {
			return nil, &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "metadata", Reason: "must be a JSON object"}}, Err: err}
		}
	}
	loc, err := s.beginProviderSignIn(ctx, beginProviderInput{Provider: string(req.Provider), Options: o, Connect: p.Connect, CodeChallenge: p.CodeChallenge})
	if err != nil {
		return nil, err
	}
	return gen.SignInProvider302Response{Headers: gen.SignInProvider302ResponseHeaders{Location: loc}}, nil
}

// SignInProviderCallbackGet implements GET /v1/signin/provider/{provider}/callback (Nhost).
func (s *Server) SignInProviderCallbackGet(ctx context.Context, req gen.SignInProviderCallbackGetRequestObject) (gen.SignInProviderCallbackGetResponseObject, error) {
	p := req.Params
	loc, err := s.finishProviderSignIn(ctx, providerCallback{Provider: string(req.Provider), State: p.State,
		Code: deref(p.Code), Error: deref(p.Error), Description: deref(p.ErrorDescription)})
	if err != nil {
		return nil, err
	}
	return gen.SignInProviderCallbackGet302Response{Headers: gen.SignInProviderCallbackGet302ResponseHeaders{Location: loc}}, nil
}

// SignInProviderCallbackPost implements POST /v1/signin/provider/{provider}/callback (Nhost):
// the callback of providers that post their answer (Apple's form_post).
func (s *Server) SignInProviderCallbackPost(ctx context.Context, req gen.SignInProviderCallbackPostRequestObject) (gen.SignInProviderCallbackPostResponseObject, error) {
	b := req.Body
	loc, err := s.finishProviderSignIn(ctx, providerCallback{Provider: string(req.Provider), State: b.State,
		Code: deref(b.Code), Error: deref(b.Error), Description: deref(b.ErrorDescription), AppleUser: deref(b.User)})
	if err != nil {
		return nil, err
	}
	return gen.SignInProviderCallbackPost302Response{Headers: gen.SignInProviderCallbackPost302ResponseHeaders{Location: loc}}, nil
}

// SignInIdToken implements POST /v1/signin/idtoken (Nhost).
func (s *Server) SignInIdToken(ctx context.Context, req gen.SignInIdTokenRequestObject) (gen.SignInIdTokenResponseObject, error) {
	b := req.Body
	res, err := s.signInIDToken(ctx, idTokenInput{Provider: string(b.Provider), IDToken: secret(b.IdToken), Nonce: b.Nonce,
		Options: profileFromNhost(b.Options)})
	if err != nil {
		return nil, err
	}
	return gen.SignInIdToken200JSONResponse(nhostSessionPayload(res)), nil
}

// LinkIdToken implements POST /v1/link/idtoken (Nhost).
func (s *Server) LinkIdToken(ctx context.Context, req gen.LinkIdTokenRequestObject) (gen.LinkIdTokenResponseObject, error) {
	pr, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	// A linked provider account is a way into the account, like a security key.
	if err := s.requireElevated(ctx, pr); err != nil {
		return nil, err
	}
	b := req.Body
	if err := s.linkIDToken(ctx, pr, idTokenInput{Provider: string(b.Provider), IDToken: secret(b.IdToken), Nonce: b.Nonce}); err != nil {
		return nil, err
	}
	return gen.LinkIdToken200JSONResponse(gen.OKResponseOK), nil
}

// AdminListUserProviders implements GET /v1/admin/users/{userId}/providers (admin).
func (s *Server) AdminListUserProviders(ctx context.Context, req gen.AdminListUserProvidersRequestObject) (gen.AdminListUserProvidersResponseObject, error) {
	if _, err := s.admin(ctx); err != nil {
		return nil, err
	}
	if _, err := adminUser(ctx, s.store, req.UserId); err != nil {
		return nil, err
	}
	ids, err := s.store.UserIdentities(ctx, req.UserId)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListUserProviders200JSONResponse{Providers: make([]gen.AdminProvider, len(ids))}
	for i, id := range ids {
		out.Providers[i] = gen.AdminProvider{Provider: id.Provider, ProviderUserId: id.Subject, Email: id.Email, CreatedAt: id.CreatedAt,
			TokensKept: id.TokensKept()}
	}
	return out, nil
}

// AdminUnlinkUserProvider implements DELETE /v1/admin/users/{userId}/providers/{provider} (admin).
func (s *Server) AdminUnlinkUserProvider(ctx context.Context, req gen.AdminUnlinkUserProviderRequestObject) (gen.AdminUnlinkUserProviderResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, req.UserId); err != nil {
			return err
		}
		gone, err := tx.DeleteUserIdentities(ctx, req.UserId, req.Provider)
		if err != nil {
			return err
		}
		for _, id := range gone {
			ev := by.event(auditProviderUnlink, req.UserId, store.JSONMap{"provider": id.Provider, "provider_user_id": id.Subject})
			if err := s.record(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Err: err}
	}
	if err != nil {
		return nil, err
	}
	return gen.AdminUnlinkUserProvider204Response{}, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// TokenExchange implements POST /v1/token/exchange (Nhost): a PKCE sign-in's code for its session.
func (s *Server) TokenExchange(ctx context.Context, req gen.TokenExchangeRequestObject) (gen.TokenExchangeResponseObject, error) {
	res, err := s.exchangeAuthCode(ctx, secret(req.Body.Code), secret(req.Body.CodeVerifier))
	if err != nil {
		return nil, err
	}
	return gen.TokenExchange200JSONResponse(nhostSessionPayload(res)), nil
}
