package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/store"
)

// Guessing short codes. A six-digit sign-in code, the eight-digit code of a mailed link and
// WME's confirmation code can be guessed, and each new code starts its own CodeMaxAttempts tries
// afresh: an attacker who asks for code after code gets that many guesses at each, thirty and
// more a minute. CodeGuessLimit caps the guesses about one target across all of its codes: in any
// span of its window, at most its count of guesses is judged; the one that reaches the count
// locks the target for a window, and every guess meanwhile, the right code included, is refused
// with Retry-After, writing nothing. A right code forgets the count. Reaching the cap is audited
// (code.guess_limit_reached), once per lock, so a flood of refusals writes no rows.
//
// The target is the name the client gave (subject), whether or not an account has it, so the
// cap answers the same for an address without an account and tells no one which have one. Codes
// that later issues add take a guess the same way, through guessCode, on the subjects of whom
// they are about: an SMS code on the phone number given; a TOTP code, whose caller a ticket
// identifies, on the account's names (accountSubjects).
//
// The count lives in the lockouts table (store.TakeGuess), with Redis configured or not: it is a
// lock, set by one guarded statement, not a windowed counter.

const auditCodeGuessLimit = "code.guess_limit_reached"

func codeGuessKey(subj string) string { return "code:" + subj }

// guessCode judges one guess of a short code of kind about the subjects: it takes a guess from
// each subject's cap before try compares the code, so concurrent guesses cannot exceed the cap,
// and refuses (429, Retry-After) once one is spent. try reports whether the code was right and,
// when it knows, whose it was; a wrong code's answer is the caller's to give.
func (s *Server) guessCode(ctx context.Context, kind string, subjects []string, try func() (right bool, user uuid.UUID, err error)) (bool, error) {
	lim := s.cfg.CodeGuessLimit
	if lim.Requests <= 0 || lim.Window < time.Second {
		right, _, err := try()
		return right, err
	}
	now := s.now()
	last := false
	for _, subj := range subjects {
		n, until, err := s.store.TakeGuess(ctx, codeGuessKey(subj), subj, lim.Requests, lim.Window, now)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, rateLimited("too many code guesses for this account", until.Sub(now))
		}
		last = last || n >= int64(lim.Requests)
	}
	right, user, err := try()
	if right {
		keys := make([]string, len(subjects))
		for i, subj := range subjects {
			keys[i] = codeGuessKey(subj)
		}
		// The code is spent by now: failing the answer would cost the client the session it
		// earned and leave it no code to try again. A count that stays is only tighter.
		if cerr := s.store.ClearLockouts(ctx, keys...); cerr != nil {
			s.log.WarnContext(ctx, "forget code guesses after a right code", "kind", kind, "error", cerr)
		}
		return true, err
	}
	if err != nil {
		return false, err
	}
	if last {
		if err := s.record(ctx, s.store, auditEvent{Action: auditCodeGuessLimit, Failed: true, User: user,
			Detail: store.JSONMap{"kind": kind, "guesses": lim.Requests, "window": lim.Window.String()}}); err != nil {
			return false, err
		}
	}
	return false, nil
}
