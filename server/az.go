package server

import (
	"context"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// authenticateAZ checks an Authentication Zero session token. Placeholder until the dialect lands.
func (s *Server) authenticateAZ(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	return &Error{Code: CodeUnauthenticated}
}
