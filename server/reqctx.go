package server

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// client is what Latchkey knows about the caller of one request.
type client struct {
	IP        string
	UserAgent string
	RequestID string
}

// principal is an authenticated caller: a user acting through a session, or (Token set, User
// nil) a Zesty access token acting as its role on its instance.
type principal struct {
	User      *store.User
	SessionID uuid.UUID
	Token     *zestyAccessToken
	// Elevated: the access token carries x-hasura-auth-elevated for its user (elevation.go).
	Elevated bool
}

// reqState is everything request-scoped that middleware learns and handlers read. One pointer in
// the context, filled in as the request moves inward, so middleware does not re-wrap the context
// for every fact.
type reqState struct {
	client    client
	dialect   dialect
	operation string     // operationId, "" when no operation matched
	op        *operation // the matched operation, nil when none matched
	principal *principal
	authErr   error         // an authentication failure that must surface even when the token was optional
	refused   *Error        // the token was valid but its user may not act (disabled)
	admin     bool          // the admin secret authenticated the request
	request   *http.Request // for the few handlers that stream through a plain http.Handler
	https     bool          // over TLS, or a trusted proxy says so
}

type reqStateKey struct{}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, reqStateKey{}, st)
}

func stateFrom(ctx context.Context) *reqState {
	if st, ok := ctx.Value(reqStateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// clientFrom returns the caller's IP, user agent and request id.
func clientFrom(ctx context.Context) client { return stateFrom(ctx).client }

// principalFrom returns the authenticated caller, or nil.
func principalFrom(ctx context.Context) *principal { return stateFrom(ctx).principal }
