package server

import (
	"context"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// authenticateAdminSecret checks the admin secret header. Placeholder until the admin API lands.
func (s *Server) authenticateAdminSecret(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	return &Error{Code: CodeUnauthenticated}
}
