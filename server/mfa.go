package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/latchkey/latchkey/store"
)

// The TOTP second factor (RFC 6238 through github.com/pquerna/otp: SHA-1, six digits, 30-second
// steps, the parameters every authenticator app reads from an otpauth:// URI).
//
// A user's secret lives sealed (internal/sealed) in users.totp_secret: pending while
// active_mfa_type is NULL, in force once it is "totp". A code is accepted within one step of
// skew either side, and only for a step later than the last one accepted for the user
// (users.totp_last_step, moved by one guarded UPDATE), so a code works once even inside its
// window and even when two instances receive it at the same moment. Every code check is a guess
// on the account's names through guessCode, so the cross-code cap bounds TOTP guesses too; an
// MFA ticket also dies after CodeMaxAttempts wrong codes.

const (
	totpPeriod        = 30 // seconds per step
	mfaTicketPrefix   = "mfaTotp:"
	mfaTicketTTL      = 5 * time.Minute
	recoveryCodeCount = 10
	guessKindTOTP     = "totp"
)

// Audit actions of the second factor.
const (
	auditTOTPGenerate        = "mfa.totp_generate"
	auditTOTPActivate        = "mfa.totp_activate"
	auditTOTPDeactivate      = "mfa.totp_deactivate"
	auditTOTPFailed          = "mfa.totp_failed"
	auditTOTPVerified        = "mfa.totp_verified"
	auditRecoveryCodesCreate = "mfa.recovery_codes_create"
	auditRecoveryCodeUsed    = "mfa.recovery_code_used"
	auditMFARequired         = "session.second_factor_required"
	auditAdminTOTPDisable    = "admin.user_totp_disable"
)

// totpPurpose binds a sealed TOTP secret to its user's row.
func totpPurpose(userID uuid.UUID) string {
	return store.SealedColumns[0].Purpose + ":" + userID.String()
}

func hasTOTP(u *store.User) bool {
	return u.ActiveMFAType != nil && *u.ActiveMFAType == store.MFATypeTOTP
}

// secondFactorGate is where every first factor (password, mailed link or code, and the SMS and
// OAuth sign-ins to come) hands over once it has identified u, before any session opens. It
// returns "" when no second factor is due: the caller opens the session. For a user with TOTP
// active (and MFA enabled) it returns an MFA ticket, stored in st, when the caller can present a
// challenge (challenge: the Nhost dialect, which answers {mfa: {ticket}}), and CodeMFARequired
// otherwise (dialects with no MFA step: no session, ever). method is the first factor, recorded
// on the session that the ticket opens.
func (s *Server) secondFactorGate(ctx context.Context, st *store.Store, u *store.User, method string, challenge bool) (secret, error) {
	if !s.cfg.MFAEnabled || !hasTOTP(u) {
		return "", nil
	}
	if !challenge {
		if err := s.record(ctx, st, auditEvent{Action: auditMFARequired, Failed: true, User: u.ID,
			Detail: store.JSONMap{"method": method}}); err != nil {
			return "", err
		}
		return "", &Error{Code: CodeMFARequired}
	}
	tok, err := newOpaqueToken()
	if err != nil {
		return "", err
	}
	ticket := secret(mfaTicketPrefix + string(tok))
	now := s.now()
	err = st.CreateMFATicket(ctx, &store.MFATicket{ID: uuid.New(), UserID: u.ID, TokenHash: hashSecret(ticket),
		Method: method, CreatedAt: now, ExpiresAt: now.Add(mfaTicketTTL)})
	if err != nil {
		return "", err
	}
	return ticket, nil
}

// mfaChallenge is the answer of a first factor that needs the second: no session, a ticket.
func mfaChallenge(u *store.User, ticket secret) *session {
	return &session{User: u, MFATicket: ticket}
}

// totpSetup is a new pending secret: its base32 text and a QR code (PNG) of its URI.
type totpSetup struct {
	Secret secret
	QRCode []byte
}

// generateTOTP makes a new pending secret for u, replacing a pending one.
func (s *Server) generateTOTP(ctx context.Context, u *store.User) (*totpSetup, error) {
	if !s.cfg.MFAEnabled {
		return nil, &Error{Code: CodeDisabledEndpoint}
	}
	if u.IsAnonymous {
		return nil, &Error{Code: CodeForbiddenAnonymous}
	}
	if hasTOTP(u) {
		return nil, &Error{Code: CodeTOTPAlreadyActive}
	}
	account := u.ID.String()
	if u.Email != nil && *u.Email != "" {
		account = *u.Email
	} else if u.Username != nil && *u.Username != "" {
		account = *u.Username
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.AppName, AccountName: account, Period: totpPeriod,
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	sealedSecret, err := s.secrets.Seal([]byte(key.Secret()), totpPurpose(u.ID))
	if err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(key.URL(), qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SetPendingTOTP(ctx, u.ID, sealedSecret); err != nil {
			if errors.Is(err, store.ErrTOTPActive) {
				return &Error{Code: CodeTOTPAlreadyActive, Err: err}
			}
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditTOTPGenerate, User: u.ID})
	})
	if err != nil {
		return nil, err
	}
	return &totpSetup{Secret: secret(key.Secret()), QRCode: png}, nil
}

// checkTOTP reports whether code is a code of the sealed secret of user at the current step or
// one either side, of a step later than the last accepted; a right code's step is recorded.
func (s *Server) checkTOTP(ctx context.Context, userID uuid.UUID, sealedSecret string, code secret) (bool, error) {
	plain, err := s.secrets.Open(sealedSecret, totpPurpose(userID))
	if err != nil {
		return false, fmt.Errorf("open totp secret: %w", err)
	}
	if !isTOTPCode(code) {
		return false, nil
	}
	step := s.now().Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		at := step + d
		want, err := totp.GenerateCodeCustom(string(plain), time.Unix(at*totpPeriod, 0).UTC(),
			totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return false, fmt.Errorf("totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			// A replay (this step or an earlier one already accepted) loses here.
			return s.store.AcceptTOTPStep(ctx, userID, at)
		}
	}
	return false, nil
}

// isTOTPCode: six ASCII digits.
func isTOTPCode(code secret) bool {
	if len(code) != 6 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// guessTOTP judges a code of the signed-in user u's current secret as a guess on u's names; a
// wrong one is audited and answered invalid-totp.
func (s *Server) guessTOTP(ctx context.Context, u *store.User, sealedSecret string, code secret, what string) error {
	right, err := s.guessCode(ctx, guessKindTOTP, accountSubjects(u), func() (bool, uuid.UUID, error) {
		ok, err := s.checkTOTP(ctx, u.ID, sealedSecret, code)
		return ok, u.ID, err
	})
	if err != nil {
		return err
	}
	if !right {
		if err := s.record(ctx, s.store, auditEvent{Action: auditTOTPFailed, Failed: true, User: u.ID,
			Detail: store.JSONMap{"for": what}}); err != nil {
			return err
		}
		return &Error{Code: CodeInvalidTOTP}
	}
	return nil
}

// changeMFA turns u's TOTP on (activating the pending secret) or off; both need a current code.
func (s *Server) changeMFA(ctx context.Context, u *store.User, code secret, activate bool) error {
	if !s.cfg.MFAEnabled {
		return &Error{Code: CodeDisabledEndpoint}
	}
	if u.IsAnonymous {
		return &Error{Code: CodeForbiddenAnonymous}
	}
	st, err := s.store.TOTPState(ctx, u.ID)
	if err != nil {
		return err
	}
	switch {
	case activate && st.Active:
		return &Error{Code: CodeTOTPAlreadyActive}
	case !activate && !st.Active:
		return &Error{Code: CodeDisabledMFATOTP}
	case st.Sealed == nil:
		return &Error{Code: CodeNoTOTPSecret}
	}
	what := "deactivate"
	if activate {
		what = "activate"
	}
	if err := s.guessTOTP(ctx, u, *st.Sealed, code, what); err != nil {
		return err
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		if activate {
			ok, err := tx.ActivateTOTP(ctx, u.ID)
			if err != nil {
				return err
			}
			if !ok {
				return &Error{Code: CodeTOTPAlreadyActive}
			}
			return s.record(ctx, tx, auditEvent{Action: auditTOTPActivate, User: u.ID})
		}
		if _, err := tx.DisableTOTP(ctx, u.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditTOTPDeactivate, User: u.ID})
	})
}

// createRecoveryCodes gives u, whose TOTP is active, ten new recovery codes (code is a current
// TOTP code); earlier ones stop working.
func (s *Server) createRecoveryCodes(ctx context.Context, u *store.User, code secret) ([]secret, error) {
	if !s.cfg.MFAEnabled {
		return nil, &Error{Code: CodeDisabledEndpoint}
	}
	st, err := s.store.TOTPState(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !st.Active || st.Sealed == nil {
		return nil, &Error{Code: CodeDisabledMFATOTP}
	}
	if err := s.guessTOTP(ctx, u, *st.Sealed, code, "recovery-codes"); err != nil {
		return nil, err
	}
	now := s.now()
	codes := make([]secret, recoveryCodeCount)
	rows := make([]store.RecoveryCode, recoveryCodeCount)
	for i := range codes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes[i] = c
		rows[i] = store.RecoveryCode{ID: uuid.New(), UserID: u.ID, CodeHash: recoveryCodeHash(u.ID, c), CreatedAt: now}
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.ReplaceRecoveryCodes(ctx, u.ID, rows); err != nil {
			return err
		}
		return s.record(ctx, tx, auditEvent{Action: auditRecoveryCodesCreate, User: u.ID,
			Detail: store.JSONMap{"count": recoveryCodeCount}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// recoveryAlphabet is lowercase base32 without padding: 50 random bits in ten characters.
var recoveryAlphabet = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCode is ten random base32 characters, shown as xxxxx-xxxxx.
func newRecoveryCode() (secret, error) {
	b := make([]byte, 7)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random recovery code: %w", err)
	}
	t := recoveryAlphabet.EncodeToString(b)[:10]
	return secret(t[:5] + "-" + t[5:]), nil
}

// normalizeRecoveryCode forgives case, spaces and dashes, as people copy codes.
func normalizeRecoveryCode(c secret) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(string(c)))
}

// recoveryCodeHash is how a recovery code is stored: SHA-256 of its user's id and the code.
func recoveryCodeHash(userID uuid.UUID, c secret) []byte {
	h := sha256.New()
	h.Write(userID[:])
	h.Write([]byte(normalizeRecoveryCode(c)))
	return h.Sum(nil)
}

// verifySignInMFA finishes a sign-in that answered an MFA ticket: with a current TOTP code or
// an unused recovery code, it spends the ticket and opens the session.
func (s *Server) verifySignInMFA(ctx context.Context, ticket, code secret) (*session, error) {
	if !s.cfg.MFAEnabled {
		return nil, &Error{Code: CodeDisabledEndpoint}
	}
	max := s.cfg.CodeMaxAttempts
	t, err := s.store.UsableMFATicket(ctx, hashSecret(ticket), max)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Code: CodeInvalidTicket, Err: err}
	}
	if err != nil {
		return nil, err
	}
	u, err := loadUsableUser(ctx, s.store, t.UserID)
	if err != nil {
		return nil, err
	}
	st, err := s.store.TOTPState(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !st.Active || st.Sealed == nil {
		return nil, &Error{Code: CodeDisabledMFATOTP}
	}
	dead, factor := false, "totp"
	right, err := s.guessCode(ctx, guessKindTOTP, accountSubjects(u), func() (bool, uuid.UUID, error) {
		ok, err := s.store.TakeMFATicketAttempt(ctx, t.ID, max)
		if err != nil || !ok {
			dead = !ok
			return false, u.ID, err
		}
		if isTOTPCode(code) {
			ok, err = s.checkTOTP(ctx, u.ID, *st.Sealed, code)
		} else {
			factor = "recovery-code"
			ok, err = s.store.SpendRecoveryCode(ctx, u.ID, recoveryCodeHash(u.ID, code))
		}
		return ok, u.ID, err
	})
	if err != nil {
		return nil, err
	}
	if !right {
		if dead { // out of tries, or spent or expired meanwhile
			return nil, &Error{Code: CodeInvalidTicket}
		}
		if err := s.record(ctx, s.store, auditEvent{Action: auditTOTPFailed, Failed: true, User: u.ID,
			Detail: store.JSONMap{"for": "sign-in", "factor": factor}}); err != nil {
			return nil, err
		}
		return nil, &Error{Code: CodeInvalidTOTP}
	}
	var out *session
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.SpendMFATicket(ctx, t.ID); err != nil {
			return ticketError(err, CodeInvalidTicket)
		}
		action := auditTOTPVerified
		if factor == "recovery-code" {
			action = auditRecoveryCodeUsed
		}
		if err := s.record(ctx, tx, auditEvent{Action: action, User: u.ID, Detail: store.JSONMap{"method": t.Method}}); err != nil {
			return err
		}
		spec := s.nhostSpec(t.Method)
		spec.ForReset = t.Method == methodPasswordReset
		var err error
		out, err = s.openSessionSpec(ctx, tx, u, spec)
		return err
	})
	return out, err
}

// adminDisableTOTP turns a user's TOTP off and ends their sessions; a user without TOTP is
// answered as is, and nothing is written.
func (s *Server) adminDisableTOTP(ctx context.Context, by adminCaller, id uuid.UUID) (*store.User, error) {
	var out *store.User
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, id); err != nil {
			return err
		}
		was, err := tx.DisableTOTP(ctx, id)
		if err != nil {
			return err
		}
		if was {
			n, err := tx.RevokeUserSessions(ctx, id, uuid.Nil, "admin-totp-disable")
			if err != nil {
				return err
			}
			if err := s.record(ctx, tx, by.event(auditAdminTOTPDisable, id, store.JSONMap{"sessions_ended": n})); err != nil {
				return err
			}
		}
		out, err = tx.UserWithRoles(ctx, id)
		return err
	})
	return out, err
}
