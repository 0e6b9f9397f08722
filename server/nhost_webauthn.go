package server

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/gen"
)

// SignUpWebauthn implements POST /v1/signup/webauthn (Nhost).
func (s *Server) SignUpWebauthn(ctx context.Context, req gen.SignUpWebauthnRequestObject) (gen.SignUpWebauthnResponseObject, error) {
	opts, err := s.beginWebAuthnSignUp(ctx, string(req.Body.Email), req.Body.Options)
	if err != nil {
		return nil, err
	}
	return gen.SignUpWebauthn200JSONResponse(*opts), nil
}

// VerifySignUpWebauthn implements POST /v1/signup/webauthn/verify (Nhost).
func (s *Server) VerifySignUpWebauthn(ctx context.Context, req gen.VerifySignUpWebauthnRequestObject) (gen.VerifySignUpWebauthnResponseObject, error) {
	res, err := s.finishWebAuthnSignUp(ctx, req.Body.Credential, req.Body.Options, req.Body.Nickname)
	if err != nil {
		return nil, err
	}
	return gen.VerifySignUpWebauthn200JSONResponse(nhostSessionPayload(res)), nil
}

// SignInWebauthn implements POST /v1/signin/webauthn (Nhost). The body is optional.
func (s *Server) SignInWebauthn(ctx context.Context, req gen.SignInWebauthnRequestObject) (gen.SignInWebauthnResponseObject, error) {
	email := ""
	if req.Body != nil && req.Body.Email != nil {
		email = string(*req.Body.Email)
	}
	opts, err := s.beginWebAuthnSignIn(ctx, email)
	if err != nil {
		return nil, err
	}
	return gen.SignInWebauthn200JSONResponse(*opts), nil
}

// VerifySignInWebauthn implements POST /v1/signin/webauthn/verify (Nhost).
func (s *Server) VerifySignInWebauthn(ctx context.Context, req gen.VerifySignInWebauthnRequestObject) (gen.VerifySignInWebauthnResponseObject, error) {
	res, err := s.finishWebAuthnSignIn(ctx, req.Body.Credential)
	if err != nil {
		return nil, err
	}
	return gen.VerifySignInWebauthn200JSONResponse(nhostSessionPayload(res)), nil
}

// ElevateWebauthn implements POST /v1/elevate/webauthn (Nhost).
func (s *Server) ElevateWebauthn(ctx context.Context, _ gen.ElevateWebauthnRequestObject) (gen.ElevateWebauthnResponseObject, error) {
	opts, err := s.beginElevation(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	return gen.ElevateWebauthn200JSONResponse(*opts), nil
}

// VerifyElevateWebauthn implements POST /v1/elevate/webauthn/verify (Nhost).
func (s *Server) VerifyElevateWebauthn(ctx context.Context, req gen.VerifyElevateWebauthnRequestObject) (gen.VerifyElevateWebauthnResponseObject, error) {
	res, err := s.finishElevation(ctx, principalFrom(ctx), req.Body.Credential)
	if err != nil {
		return nil, err
	}
	return gen.VerifyElevateWebauthn200JSONResponse(nhostSessionPayload(res)), nil
}

// AddSecurityKey implements POST /v1/user/webauthn/add (Nhost).
func (s *Server) AddSecurityKey(ctx context.Context, _ gen.AddSecurityKeyRequestObject) (gen.AddSecurityKeyResponseObject, error) {
	opts, err := s.beginAddKey(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	return gen.AddSecurityKey200JSONResponse(*opts), nil
}

// VerifyAddSecurityKey implements POST /v1/user/webauthn/verify (Nhost).
func (s *Server) VerifyAddSecurityKey(ctx context.Context, req gen.VerifyAddSecurityKeyRequestObject) (gen.VerifyAddSecurityKeyResponseObject, error) {
	id, err := s.finishAddKey(ctx, principalFrom(ctx), req.Body.Credential, req.Body.Nickname)
	if err != nil {
		return nil, err
	}
	out := gen.VerifyAddSecurityKey200JSONResponse{Id: id.String()}
	if n := req.Body.Nickname; n != nil && *n != "" {
		out.Nickname = n
	}
	return out, nil
}

// ListSecurityKeys implements GET /v1/user/webauthn (Latchkey's addition to Nhost).
func (s *Server) ListSecurityKeys(ctx context.Context, _ gen.ListSecurityKeysRequestObject) (gen.ListSecurityKeysResponseObject, error) {
	keys, err := s.store.WebAuthnCredentials(ctx, principalFrom(ctx).User.ID)
	if err != nil {
		return nil, err
	}
	out := gen.ListSecurityKeys200JSONResponse{SecurityKeys: make([]gen.SecurityKey, len(keys))}
	for i, k := range keys {
		out.SecurityKeys[i] = gen.SecurityKey{Id: k.ID.String(), Nickname: k.Nickname, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
	}
	return out, nil
}

// DeleteSecurityKey implements DELETE /v1/user/webauthn/{id} (Latchkey's addition to Nhost).
func (s *Server) DeleteSecurityKey(ctx context.Context, req gen.DeleteSecurityKeyRequestObject) (gen.DeleteSecurityKeyResponseObject, error) {
	id, err := uuid.Parse(req.Id)
	if err != nil { // the contract's pattern admits only canonical UUIDs
		return nil, &Error{Code: CodeInvalidRequest, Err: err}
	}
	if err := s.deleteKey(ctx, principalFrom(ctx), id); err != nil {
		return nil, err
	}
	return gen.DeleteSecurityKey200JSONResponse(gen.OKResponseOK), nil
}
