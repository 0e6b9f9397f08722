package server

import (
	"context"
	"encoding/base64"

	"github.com/latchkey/latchkey/gen"
)

// ChangeUserMfa implements GET /v1/mfa/totp/generate (Nhost).
func (s *Server) ChangeUserMfa(ctx context.Context, _ gen.ChangeUserMfaRequestObject) (gen.ChangeUserMfaResponseObject, error) {
	res, err := s.generateTOTP(ctx, principalFrom(ctx).User)
	if err != nil {
		return nil, err
	}
	return gen.ChangeUserMfa200JSONResponse{TotpSecret: string(res.Secret),
		ImageUrl: "data:image/png;base64," + base64.StdEncoding.EncodeToString(res.QRCode)}, nil
}

// VerifyChangeUserMfa implements POST /v1/user/mfa (Nhost).
func (s *Server) VerifyChangeUserMfa(ctx context.Context, req gen.VerifyChangeUserMfaRequestObject) (gen.VerifyChangeUserMfaResponseObject, error) {
	activate := req.Body.ActiveMfaType != nil && *req.Body.ActiveMfaType == gen.UserMfaRequestActiveMfaTypeTotp
	if err := s.requireElevated(ctx, principalFrom(ctx)); err != nil {
		return nil, err
	}
	if err := s.changeMFA(ctx, principalFrom(ctx).User, secret(req.Body.Code), activate); err != nil {
		return nil, err
	}
	return gen.VerifyChangeUserMfa200JSONResponse(gen.OKResponseOK), nil
}

// CreateMfaRecoveryCodes implements POST /v1/user/mfa/recovery-codes (Latchkey's addition to the
// Nhost dialect).
func (s *Server) CreateMfaRecoveryCodes(ctx context.Context, req gen.CreateMfaRecoveryCodesRequestObject) (gen.CreateMfaRecoveryCodesResponseObject, error) {
	if err := s.requireElevated(ctx, principalFrom(ctx)); err != nil {
		return nil, err
	}
	codes, err := s.createRecoveryCodes(ctx, principalFrom(ctx).User, secret(req.Body.Code))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = string(c)
	}
	return gen.CreateMfaRecoveryCodes200JSONResponse{RecoveryCodes: out}, nil
}

// VerifySignInMfaTotp implements POST /v1/signin/mfa/totp (Nhost).
func (s *Server) VerifySignInMfaTotp(ctx context.Context, req gen.VerifySignInMfaTotpRequestObject) (gen.VerifySignInMfaTotpResponseObject, error) {
	res, err := s.verifySignInMFA(ctx, secret(req.Body.Ticket), secret(req.Body.Otp))
	if err != nil {
		return nil, err
	}
	return gen.VerifySignInMfaTotp200JSONResponse(nhostSessionPayload(res)), nil
}

// AdminDisableUserTotp implements DELETE /v1/admin/users/{userId}/mfa/totp (admin).
func (s *Server) AdminDisableUserTotp(ctx context.Context, req gen.AdminDisableUserTotpRequestObject) (gen.AdminDisableUserTotpResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.adminDisableTOTP(ctx, by, req.UserId)
	if err != nil {
		return nil, err
	}
	return gen.AdminDisableUserTotp200JSONResponse(adminUserBody(u)), nil
}
