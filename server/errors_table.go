package server

import (
	"net/http"
	"strings"
)

// statusMessage is how a dialect tells one Code: an HTTP status and a sentence.
type statusMessage struct {
	status  int
	message string
}

// errorTable is a dialect's way of telling Codes that carries no code of its own on the wire
// (WME, Zesty): a status and message per Code, a 400 for any Code not listed, and, in conceal
// mode, account-state codes told as the operation's answer to any bad credential.
type errorTable struct {
	codes map[Code]statusMessage
	// concealAs is the code a disabled or unverified account is told as in conceal mode, by
	// operation (lower-cased: operation names arrive as the handlers spell them).
	concealAs func(operation string) Code
}

// accountState are the codes that reveal an account's state to someone holding a credential.
var accountState = map[Code]bool{CodeDisabledUser: true, CodeUnverifiedUser: true}

// tell returns the code told (after conceal mode), its status and its message, with the field
// problems of an invalid request appended.
func (t errorTable) tell(s *Server, e *Error, operation string) (Code, int, string) {
	code := e.Code
	if s.cfg.ConcealErrors && accountState[code] {
		code = t.concealAs(strings.ToLower(operation))
	}
	sm, ok := t.codes[code]
	if !ok {
		sm = statusMessage{http.StatusBadRequest, "The request cannot be completed"}
	}
	msg := sm.message
	if code == CodeInvalidRequest && len(e.Fields) > 0 {
		msg += ": " + fieldSummary(e.Fields)
	}
	return code, sm.status, msg
}
