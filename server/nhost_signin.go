package server

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/gen"
)

// SignUpEmailPassword implements POST /v1/signup/email-password (Nhost).
func (s *Server) SignUpEmailPassword(ctx context.Context, req gen.SignUpEmailPasswordRequestObject) (gen.SignUpEmailPasswordResponseObject, error) {
	ctx = withCodeChallenge(ctx, req.Body.CodeChallenge)
	res, err := s.signUp(ctx, signUpInput{
		Email:    string(req.Body.Email),
		Password: secret(req.Body.Password),
		Options:  profileFromNhost(req.Body.Options),
	})
	if err != nil {
		return nil, err
	}
	return gen.SignUpEmailPassword200JSONResponse(nhostSessionPayload(res)), nil
}

// SignInEmailPassword implements POST /v1/signin/email-password (Nhost).
func (s *Server) SignInEmailPassword(ctx context.Context, req gen.SignInEmailPasswordRequestObject) (gen.SignInEmailPasswordResponseObject, error) {
	res, err := s.signIn(ctx, signInInput{Email: string(req.Body.Email), Password: secret(req.Body.Password), MFAChallenge: true})
	if err != nil {
		return nil, err
	}
	if res.MFATicket != "" {
		// hasura-auth leaves the session out (not null) beside the challenge; nhost-js reads mfa.
		return gen.SignInEmailPassword200JSONResponse{Mfa: &gen.MFAChallengePayload{Ticket: string(res.MFATicket)}}, nil
	}
	ns := nhostSession(res)
	return gen.SignInEmailPassword200JSONResponse{Session: &ns}, nil
}

// SignInAnonymous implements POST /v1/signin/anonymous (Nhost). The body is optional.
func (s *Server) SignInAnonymous(ctx context.Context, req gen.SignInAnonymousRequestObject) (gen.SignInAnonymousResponseObject, error) {
	var o profileOptions
	if b := req.Body; b != nil {
		o.DisplayName, o.Locale = b.DisplayName, b.Locale
		if b.Metadata != nil {
			o.Metadata = *b.Metadata
		}
	}
	res, err := s.signInAnonymous(ctx, o)
	if err != nil {
		return nil, err
	}
	return gen.SignInAnonymous200JSONResponse(nhostSessionPayload(res)), nil
}

// SignInPAT implements POST /v1/signin/pat (Nhost).
func (s *Server) SignInPAT(ctx context.Context, req gen.SignInPATRequestObject) (gen.SignInPATResponseObject, error) {
	res, err := s.signInPAT(ctx, secret(req.Body.PersonalAccessToken))
	if err != nil {
		return nil, err
	}
	return gen.SignInPAT200JSONResponse(nhostSessionPayload(res)), nil
}

// CreatePAT implements POST /v1/pat (Nhost).
func (s *Server) CreatePAT(ctx context.Context, req gen.CreatePATRequestObject) (gen.CreatePATResponseObject, error) {
	var md map[string]any
	if req.Body.Metadata != nil {
		md = *req.Body.Metadata
	}
	if err := s.requireElevated(ctx, principalFrom(ctx)); err != nil {
		return nil, err
	}
	id, tok, err := s.createPAT(ctx, principalFrom(ctx), req.Body.ExpiresAt, md)
	if err != nil {
		return nil, err
	}
	return gen.CreatePAT200JSONResponse{Id: id.String(), PersonalAccessToken: string(tok)}, nil
}

// ListPATs implements GET /v1/pat (Nhost).
func (s *Server) ListPATs(ctx context.Context, _ gen.ListPATsRequestObject) (gen.ListPATsResponseObject, error) {
	toks, err := s.listPATs(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	out := gen.ListPATs200JSONResponse{PersonalAccessTokens: make([]gen.PersonalAccessToken, len(toks))}
	for i, t := range toks {
		md := map[string]any(t.Metadata)
		if md == nil {
			md = map[string]any{}
		}
		out.PersonalAccessTokens[i] = gen.PersonalAccessToken{Id: t.ID.String(), Name: t.Name, Metadata: md,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
	}
	return out, nil
}

// DeletePAT implements DELETE /v1/pat/{id} (Nhost).
func (s *Server) DeletePAT(ctx context.Context, req gen.DeletePATRequestObject) (gen.DeletePATResponseObject, error) {
	id, err := uuid.Parse(req.Id)
	if err != nil { // the contract's pattern admits only canonical UUIDs
		return nil, &Error{Code: CodeInvalidRequest, Err: err}
	}
	if err := s.deletePAT(ctx, principalFrom(ctx), id); err != nil {
		return nil, err
	}
	return gen.DeletePAT200JSONResponse(gen.OKResponseOK), nil
}
