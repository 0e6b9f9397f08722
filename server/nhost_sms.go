package server

import (
	"context"

	"github.com/latchkey/latchkey/gen"
)

// SignInPasswordlessSms implements POST /v1/signin/passwordless/sms (Nhost).
func (s *Server) SignInPasswordlessSms(ctx context.Context, req gen.SignInPasswordlessSmsRequestObject) (gen.SignInPasswordlessSmsResponseObject, error) {
	if err := s.smsSignIn(ctx, req.Body.PhoneNumber, profileFromNhost(req.Body.Options)); err != nil {
		return nil, err
	}
	return gen.SignInPasswordlessSms200JSONResponse(gen.OKResponseOK), nil
}

// VerifySignInPasswordlessSms implements POST /v1/signin/passwordless/sms/otp (Nhost).
func (s *Server) VerifySignInPasswordlessSms(ctx context.Context, req gen.VerifySignInPasswordlessSmsRequestObject) (gen.VerifySignInPasswordlessSmsResponseObject, error) {
	res, err := s.smsVerify(ctx, req.Body.PhoneNumber, secret(req.Body.Otp))
	if err != nil {
		return nil, err
	}
	return gen.VerifySignInPasswordlessSms200JSONResponse(nhostSessionPayload(res)), nil
}

// AdminSetUserPhone implements PUT /v1/admin/users/{userId}/phone (admin).
func (s *Server) AdminSetUserPhone(ctx context.Context, req gen.AdminSetUserPhoneRequestObject) (gen.AdminSetUserPhoneResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	verified := req.Body.Verified != nil && *req.Body.Verified
	u, err := s.setPhone(ctx, by, req.UserId, &req.Body.PhoneNumber, verified)
	if err != nil {
		return nil, err
	}
	return gen.AdminSetUserPhone200JSONResponse(adminUserBody(u)), nil
}

// AdminClearUserPhone implements DELETE /v1/admin/users/{userId}/phone (admin).
func (s *Server) AdminClearUserPhone(ctx context.Context, req gen.AdminClearUserPhoneRequestObject) (gen.AdminClearUserPhoneResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.setPhone(ctx, by, req.UserId, nil, false)
	if err != nil {
		return nil, err
	}
	return gen.AdminClearUserPhone200JSONResponse(adminUserBody(u)), nil
}
