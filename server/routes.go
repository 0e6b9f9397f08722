package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/latchkey/latchkey/gen"
)

// Handler is the whole HTTP surface: middleware, validation and the generated routes.
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError // the only place an error becomes a response body
	e.Pre(s.begin)                     // request id, client facts, request state: before routing
	e.Pre(s.deadline)                  // a bound on the request's work, database calls included
	e.Pre(s.edge)                      // security headers, CORS preflights: before routing too
	e.Use(
		s.route,     // the matched operation's dialect, for everything that follows
		s.accessLog, // one line and the metrics per request, errors included
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.log.ErrorContext(c.Request().Context(), "panic", "error", err, "stack", string(stack))
				return err
			},
		}),
		middleware.BodyLimit(fmt.Sprintf("%dB", s.cfg.MaxBodyBytes)),
		s.validate, // params, bodies and security schemes checked against the contract
		s.limit,    // rate limits by client address and target (ratelimit.go)
	)
	gen.RegisterHandlers(e, gen.NewStrictHandler(s, nil))
	return e
}

// begin puts the request state on the context and fixes the request id.
func (s *Server) begin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		h := c.Response().Header()
		// Answers carry tokens, and mailed-link URLs carry tickets: nothing is cached, and no
		// page of ours tells the next site where the browser came from.
		if !strings.HasPrefix(req.URL.Path, "/docs") { // the documentation's static assets may be cached
			setHeaders(h, echo.HeaderXRequestID, id, "Cache-Control", "no-store", "Referrer-Policy", "no-referrer")
		} else {
			setHeaders(h, echo.HeaderXRequestID, id, "Referrer-Policy", "no-referrer")
		}
		ip, https := s.edges.clientAddr(req)
		st := &reqState{
			client:  client{IP: ip, UserAgent: req.UserAgent(), RequestID: id},
			dialect: dialectForPath(req.URL.Path),
			https:   https,
		}
		req = req.WithContext(withState(req.Context(), st))
		st.request = req
		c.SetRequest(req)
		return next(c)
	}
}

// route records which operation and dialect the router matched.
func (s *Server) route(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := stateFrom(c.Request().Context())
		if op := s.ops[c.Request().Method+" "+c.Path()]; op != nil {
			st.dialect, st.operation, st.op = op.dialect, op.id, op
		} else if d, ok := s.pathDialects[c.Path()]; ok {
			st.dialect = d // a method the path does not take: answered in the path's dialect
		}
		return next(c)
	}
}

// accessLog writes one line per request and records its metrics. It logs the route pattern, not
// the URL: query strings can carry tickets.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		op := stateFrom(c.Request().Context()).operation
		if op == "" {
			op = "unmatched"
		}
		inFlight := s.metrics.inFlight.WithLabelValues(op)
		inFlight.Inc()
		err := next(c)
		if err != nil {
			c.Error(err) // render now, so the status below is the one sent
		}
		ctx := c.Request().Context()
		st := stateFrom(ctx)
		status := c.Response().Status
		elapsed := time.Since(start)
		inFlight.Dec() // before it is counted as done: in flight + done never counts it twice
		s.metrics.observe(op, status, elapsed)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if s.log.Enabled(ctx, level) {
			s.log.LogAttrs(ctx, level, "request",
				slog.String("request_id", st.client.RequestID),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.String("operation", op),
				slog.Int("status", status),
				slog.Duration("elapsed", elapsed),
				slog.String("ip", st.client.IP))
		}
		return nil
	}
}

// setHeaders sets each header of kv (name, value, name, value, …; names in canonical form) to its
// one value, as Header.Set would, with one allocation for all of them instead of one each: these
// are on every answer.
func setHeaders(h http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		h[kv[2*i]] = vals[i : i+1 : i+1] // capacity 1: an Add copies instead of writing into the next
	}
}

// validRequestID accepts a caller's request id only when it is short and plain, so it cannot
// inject anything into logs or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) < 0
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
