package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/latchkey/latchkey/gen"
)

// RefreshToken implements POST /v1/token (Nhost): single-use, rotated refresh tokens.
func (s *Server) RefreshToken(ctx context.Context, req gen.RefreshTokenRequestObject) (gen.RefreshTokenResponseObject, error) {
	res, err := s.refresh(ctx, secret(req.Body.RefreshToken))
	if err != nil {
		return nil, err
	}
	return refreshAnswer(nhostSession(res)), nil
}

// refreshAnswer is POST /v1/token's 200, written by appendSessionJSON (see nhost_user.go).
type refreshAnswer gen.Session

func (a refreshAnswer) VisitRefreshTokenResponse(w http.ResponseWriter) error {
	ss := gen.Session(a)
	return writeJSON200(w, func(b []byte) ([]byte, error) { return appendSessionJSON(b, &ss) })
}

// appendSessionJSON appends ss as encoding/json would marshal it.
func appendSessionJSON(b []byte, ss *gen.Session) ([]byte, error) {
	b = append(b, `{"accessToken":`...)
	b = appendJSONString(b, ss.AccessToken)
	b = append(b, `,"accessTokenExpiresIn":`...)
	b = strconv.AppendInt(b, ss.AccessTokenExpiresIn, 10)
	b = append(b, `,"refreshToken":`...)
	b = appendJSONString(b, ss.RefreshToken)
	b = append(b, `,"refreshTokenId":`...)
	b = appendJSONString(b, ss.RefreshTokenId)
	if ss.User != nil {
		var err error
		b = append(b, `,"user":`...)
		if b, err = appendUserJSON(b, ss.User); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// VerifyToken implements POST /v1/token/verify (Nhost): the token in the body, else the bearer.
func (s *Server) VerifyToken(ctx context.Context, req gen.VerifyTokenRequestObject) (gen.VerifyTokenResponseObject, error) {
	if req.Body != nil && req.Body.Token != nil {
		if _, err := s.authenticateAccessToken(ctx, *req.Body.Token); err != nil {
			return nil, err
		}
		return gen.VerifyToken200JSONResponse("OK"), nil
	}
	if _, err := requirePrincipal(ctx); err != nil {
		return nil, err
	}
	return gen.VerifyToken200JSONResponse("OK"), nil
}

// SignOut implements POST /v1/signout (Nhost).
func (s *Server) SignOut(ctx context.Context, req gen.SignOutRequestObject) (gen.SignOutResponseObject, error) {
	in := signOutInput{Principal: principalFrom(ctx)}
	if b := req.Body; b != nil {
		in.All = b.All != nil && *b.All
		if b.RefreshToken != nil {
			in.Refresh = secret(*b.RefreshToken)
		}
	}
	if err := s.signOut(ctx, in); err != nil {
		return nil, err
	}
	return gen.SignOut200JSONResponse(gen.OKResponseOK), nil
}
