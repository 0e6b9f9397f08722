package server

import (
	"context"

	"github.com/latchkey/latchkey/gen"
)

// GetJWKs implements GET /v1/.well-known/jwks.json (Nhost).
func (s *Server) GetJWKs(context.Context, gen.GetJWKsRequestObject) (gen.GetJWKsResponseObject, error) {
	return gen.GetJWKs200JSONResponse(s.keys.publicSet()), nil
}

// HealthCheckGet implements GET /v1/healthz (Nhost).
func (s *Server) HealthCheckGet(context.Context, gen.HealthCheckGetRequestObject) (gen.HealthCheckGetResponseObject, error) {
	return gen.HealthCheckGet200JSONResponse(gen.OKResponseOK), nil
}

// HealthCheckHead implements HEAD /v1/healthz (Nhost).
func (s *Server) HealthCheckHead(context.Context, gen.HealthCheckHeadRequestObject) (gen.HealthCheckHeadResponseObject, error) {
	return gen.HealthCheckHead200Response{}, nil
}

// GetVersion implements GET /v1/version (Nhost). It is never empty.
func (s *Server) GetVersion(context.Context, gen.GetVersionRequestObject) (gen.GetVersionResponseObject, error) {
	return gen.GetVersion200JSONResponse{Version: s.cfg.Version}, nil
}
