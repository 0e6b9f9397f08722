package server

import (
	"context"

	"github.com/latchkey/latchkey/gen"
)

// GetUser implements GET /v1/user (Nhost).
func (s *Server) GetUser(ctx context.Context, _ gen.GetUserRequestObject) (gen.GetUserResponseObject, error) {
	p := principalFrom(ctx)
	return gen.GetUser200JSONResponse(nhostUser(p.User, p.User.Roles)), nil // roles came with authentication
}

// DeanonymizeUser implements POST /v1/user/deanonymize (Nhost).
func (s *Server) DeanonymizeUser(ctx context.Context, req gen.DeanonymizeUserRequestObject) (gen.DeanonymizeUserResponseObject, error) {
	in := deanonymizeInput{
		Principal:    principalFrom(ctx),
		Email:        string(req.Body.Email),
		Passwordless: req.Body.SignInMethod == gen.UserDeanonymizeRequestSignInMethodPasswordless,
		Options:      profileFromNhost(req.Body.Options),
	}
	if req.Body.Password != nil {
		pw := secret(*req.Body.Password)
		in.Password = &pw
	}
	if err := s.deanonymize(ctx, in); err != nil {
		return nil, err
	}
	return gen.DeanonymizeUser200JSONResponse(gen.OKResponseOK), nil
}

// ChangeUserPassword implements POST /v1/user/password (Nhost).
func (s *Server) ChangeUserPassword(ctx context.Context, req gen.ChangeUserPasswordRequestObject) (gen.ChangeUserPasswordResponseObject, error) {
	if req.Body.Ticket != nil {
		// A reset ticket stands in for a session; a bearer token sent beside it is not used.
		if err := s.resetPassword(ctx, secret(*req.Body.Ticket), secret(req.Body.NewPassword)); err != nil {
			return nil, err
		}
		return gen.ChangeUserPassword200JSONResponse(gen.OKResponseOK), nil
	}
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.changePassword(ctx, p, secret(req.Body.NewPassword)); err != nil {
		return nil, err
	}
	return gen.ChangeUserPassword200JSONResponse(gen.OKResponseOK), nil
}
