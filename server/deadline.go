package server

import (
	"context"

	"github.com/labstack/echo/v4"
)

// deadline bounds the work of one request by RequestTimeout. Every database call starts from
// the request's context, so a database that stops answering (a network partition, a stalled
// server: no refusal, just silence) ends in a timeout the store reports as unavailable, and the
// client gets 503 with Retry-After instead of a request that hangs until the TCP stack gives up.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}
