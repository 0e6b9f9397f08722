package server

import (
	"context"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// Audit actions.
const (
	auditSignUp           = "user.sign_up"
	auditSignIn           = "session.sign_in"
	auditSignInFailed     = "session.sign_in_failed"
	auditSignOut          = "session.sign_out"
	auditRefreshReuse     = "refresh_token.reuse"
	auditPasswordChange   = "user.password_change"
	auditDeanonymize      = "user.deanonymize"
	auditPATCreate        = "pat.create"
	auditPATDelete        = "pat.delete"
	auditPATSignInFailed  = "pat.sign_in_failed"
	auditSessionsEndedAll = "session.sign_out_all"

	auditTicketUsed            = "ticket.used"
	auditTicketCodeFailed      = "ticket.code_failed"
	auditPasswordResetRequest  = "user.password_reset_request"
	auditPasswordReset         = "user.password_reset"
	auditUnprovenWaysForgotten = "user.unproven_ways_forgotten" // a reset proved the address first: links and keys added before it went
	auditEmailChangeRequest    = "user.email_change_request"
	// auditEmailChange: the address changed (a confirmed Nhost change, or Authentication Zero's
	// immediate one, which leaves the new address unverified).
	auditEmailChange = "user.email_change"
)

// auditEvent describes one audited action; record fills in who, when and from where.
type auditEvent struct {
	Action string
	Failed bool
	User   uuid.UUID // the user acted on; also the actor unless Actor or TokenName says otherwise
	Actor  uuid.UUID // the acting user when it is not User (an admin, an instance owner)
	// TokenName names the API token that acted. Actions taken with a token record no actor user.
	TokenName string
	Session   uuid.UUID
	Detail    store.JSONMap
}

// record writes ev with st, which should be the transaction of the change it records.
func (s *Server) record(ctx context.Context, st *store.Store, ev auditEvent) error {
	return st.RecordAudit(ctx, s.auditRow(ctx, ev))
}

// auditRow fills in who, from where and how for an audit event.
func (s *Server) auditRow(ctx context.Context, ev auditEvent) *store.AuditEvent {
	c := clientFrom(ctx)
	e := &store.AuditEvent{
		ID:        uuid.New(),
		Action:    ev.Action,
		Outcome:   store.OutcomeSuccess,
		IP:        c.IP,
		UserAgent: truncate(c.UserAgent, 512),
		RequestID: c.RequestID,
		Detail:    ev.Detail,
	}
	if ev.Failed {
		e.Outcome = store.OutcomeFailure
	}
	if ev.User != uuid.Nil {
		u := ev.User
		e.TargetUserID = &u
	}
	switch {
	case ev.TokenName != "":
		e.ActorTokenName = ev.TokenName
	case ev.Actor != uuid.Nil:
		a := ev.Actor
		e.ActorUserID = &a
	default:
		e.ActorUserID = e.TargetUserID
	}
	if ev.Session != uuid.Nil {
		sid := ev.Session
		e.SessionID = &sid
	}
	return e
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
