package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/latchkey/latchkey/server/sms"
	"github.com/latchkey/latchkey/store"
)

// Phone sign-in by SMS code. A request texts a six-digit code (a ticket of kind signinSms whose
// address is the E.164 number) through the SMS outbox; the code, entered at
// /v1/signin/passwordless/sms/otp, opens a session through smsSignInComplete.
//
// Texts cost money per message and premium-rate numbers pay whoever owns them, so every request
// passes, in order, before anything is written: the number's form and type (mobile, not a
// denied type such as premium-rate or shared-cost), the allow list of country calling codes,
// then four counters shared by every instance (store.Counter: the rate_limits table or Redis):
// texts to the number per hour and per day, texts asked from the client's address per hour, and
// all texts per hour. The global counter is one atomic increment per request, so across any
// number of instances no more than SMSConfig.MaxPerHour requests a clock hour get past it.

// SMS providers.
const (
	SMSProviderLog    = "log"
	SMSProviderTwilio = "twilio"
)

// SMSConfig is phone sign-in's configuration.
type SMSConfig struct {
	PasswordlessEnabled bool             // POST /v1/signin/passwordless/sms (Nhost: off)
	Provider            string           // SMSProviderLog (development) or SMSProviderTwilio
	Twilio              sms.TwilioConfig // when Provider is twilio
	DefaultRegion       string           // ISO 3166 region national numbers are read in ("" : international only)
	OTPTTL              time.Duration    // life of a texted code (5m)
	MaxPerNumberHour    int              // texts to one number per clock hour (3); <0: no limit
	MaxPerNumberDay     int              // texts to one number per day (10); <0: no limit
	MaxPerAddress       RateLimit        // text requests from one client address (10/1h)
	MaxPerHour          int              // texts in all per clock hour, every instance together (100); <0: no limit
	AllowedCountries    []int            // country calling codes texts may go to; empty: all
	DeniedTypes         []string         // number types refused (premium-rate, shared-cost)
	RetryBase           time.Duration    // first wait after a temporary delivery failure (15s); doubles
	MaxAttempts         int              // delivery attempts before a text is given up (5)
	TemplatesDir        string           // templates (<locale>/<kind>.txt) replacing the built-in ones; "": none
}

// DefaultSMSConfig is the configuration with nothing set.
func DefaultSMSConfig() SMSConfig {
	return SMSConfig{
		Provider:         SMSProviderLog,
		OTPTTL:           5 * time.Minute,
		MaxPerNumberHour: 3,
		MaxPerNumberDay:  10,
		MaxPerAddress:    RateLimit{Requests: 10, Window: time.Hour},
		MaxPerHour:       100,
		DeniedTypes:      []string{sms.TypePremiumRate, sms.TypeSharedCost},
		RetryBase:        15 * time.Second,
		MaxAttempts:      5,
	}
}

func (c SMSConfig) withDefaults() SMSConfig {
	d := DefaultSMSConfig()
	if c.Provider == "" {
		c.Provider = d.Provider
	}
	if c.OTPTTL <= 0 {
		c.OTPTTL = d.OTPTTL
	}
	if c.RetryBase <= 0 {
		c.RetryBase = d.RetryBase
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	return c
}

// newSMSSender is the sender the configuration names.
func newSMSSender(c SMSConfig, log *slog.Logger) (sms.Sender, error) {
	switch c.Provider {
	case SMSProviderLog:
		return &sms.LogSender{Log: log}, nil
	case SMSProviderTwilio:
		return sms.NewTwilio(c.Twilio)
	}
	return nil, fmt.Errorf("unknown SMS provider %q (log or twilio)", c.Provider)
}

// Session method of a texted code.
const methodSMSOTP = "sms-otp"

// Refusal labels of latchkey_sms_refusals_total: which defence refused a text.
const (
	smsRefusedInvalid    = "invalid_number"
	smsRefusedNotMobile  = "not_mobile"
	smsRefusedType       = "number_type"
	smsRefusedCountry    = "country"
	smsRefusedNumberHour = "number_hour"
	smsRefusedNumberDay  = "number_day"
	smsRefusedAddress    = "address"
	smsRefusedGlobal     = "global"
)

// smsNumber reads and checks the number a client gave: 400 invalid-request naming what is
// wrong with it (never the number itself) when it is no number, no mobile one, of a denied type
// or of a country off the allow list.
func (s *Server) smsNumber(raw string, checks bool) (sms.Number, error) {
	c := s.cfg.SMS
	bad := func(label, reason string) error {
		if checks {
			s.metrics.smsRefusals.WithLabelValues(label).Inc()
		}
		return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/phoneNumber", Reason: reason}}}
	}
	n, err := sms.Parse(raw, c.DefaultRegion)
	if err != nil {
		reason := "not a valid phone number: give it in international form, starting with +"
		if c.DefaultRegion != "" {
			reason = "not a valid phone number, in international form or national form of " + c.DefaultRegion
		}
		return n, bad(smsRefusedInvalid, reason)
	}
	if !checks {
		return n, nil
	}
	if slices.Contains(c.DeniedTypes, n.Type) {
		return n, bad(smsRefusedType, "numbers of this type ("+n.Type+") cannot receive sign-in codes")
	}
	if !n.Mobile() {
		return n, bad(smsRefusedNotMobile, "not a mobile number ("+n.Type+")")
	}
	if len(c.AllowedCountries) > 0 && !slices.Contains(c.AllowedCountries, n.CallingCode) {
		return n, bad(smsRefusedCountry, fmt.Sprintf("texts to country code +%d are not allowed", n.CallingCode))
	}
	return n, nil
}

// phoneSubject is the key form of a phone number for counters: a hash, so the counters hold no
// numbers.
func phoneSubject(e164 string) string {
	sum := sha256.Sum256([]byte("phone:" + e164))
	return hex.EncodeToString(sum[:16])
}

// smsLimits counts one text to n against each ceiling, cheapest-to-exhaust last: a flood at one
// number or from one address is refused before it spends the global allowance everyone shares.
// Refused, it answers 429 with Retry-After, naming the limit.
func (s *Server) smsLimits(ctx context.Context, n sms.Number) error {
	c := s.cfg.SMS
	subj := phoneSubject(n.E164)
	checks := []struct {
		key, label, message string
		lim                 RateLimit
	}{
		{"sms|num-h:" + subj, smsRefusedNumberHour, "too many texts to this number this hour", RateLimit{c.MaxPerNumberHour, time.Hour}},
		{"sms|num-d:" + subj, smsRefusedNumberDay, "too many texts to this number today", RateLimit{c.MaxPerNumberDay, 24 * time.Hour}},
		{"sms|ip:" + s.addrKey(clientFrom(ctx).IP), smsRefusedAddress, "too many texts asked from this address", c.MaxPerAddress},
		{"sms|all", smsRefusedGlobal, "texts are paused: the hourly limit of texts for everyone is reached", RateLimit{c.MaxPerHour, time.Hour}},
	}
	for _, ck := range checks {
		if ck.lim.Requests < 0 || ck.lim.Window <= 0 {
			continue
		}
		if err := s.hit(ctx, ck.key, ck.lim, ck.message); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == CodeRateLimited {
				s.metrics.smsRefusals.WithLabelValues(ck.label).Inc()
				// Once per hour and instance, not once per refusal: a flood must not flood the log.
				if hour := s.now().Unix() / 3600; ck.label == smsRefusedGlobal && s.smsCeilingLogged.Swap(hour) != hour {
					s.log.ErrorContext(ctx, "SMS GLOBAL CEILING REACHED: every text is refused until the hour ends; check for SMS pumping",
						"limit_per_hour", c.MaxPerHour)
				}
			}
			return err
		}
	}
	return nil
}

// smsSignIn texts a sign-in code to the owner of the number raw names, creating the account
// first when there is none and sign-up is open.
func (s *Server) smsSignIn(ctx context.Context, raw string, o profileOptions) error {
	if !s.cfg.SMS.PasswordlessEnabled {
		return &Error{Code: CodeDisabledEndpoint}
	}
	n, err := s.smsNumber(raw, true)
	if err != nil {
		return err
	}
	if err := s.smsLimits(ctx, n); err != nil {
		return err
	}
	return s.textSignInCode(ctx, n.E164, o)
}

func (s *Server) textSignInCode(ctx context.Context, phone string, o profileOptions) error {
	u, err := s.store.UserByPhone(ctx, phone)
	create := errors.Is(err, store.ErrNotFound)
	switch {
	case create && s.cfg.DisableSignup:
		return s.concealed(&Error{Code: CodeSignupDisabled})
	case create:
		p, err := s.resolveProfile(o, "")
		if err != nil {
			return err
		}
		u = s.newUser(p)
		u.PhoneNumber, u.Disabled = &phone, s.cfg.DisableNewUsers
		u.Roles = p.Roles
	case err != nil:
		return err
	case u.Disabled:
		return s.concealed(&Error{Code: CodeDisabledUser})
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if create {
			if err := tx.CreateUser(ctx, u, u.Roles); err != nil {
				return err
			}
			if err := s.record(ctx, tx, auditEvent{Action: auditSignUp, User: u.ID, Detail: store.JSONMap{"method": methodSMSOTP}}); err != nil {
				return err
			}
			if u.Disabled {
				return nil // created, waiting for an administrator: no way in yet
			}
		}
		return s.queueSignInCode(ctx, tx, u, phone)
	})
	var ce *store.ConflictError
	if errors.As(err, &ce) && ce.Field == "phoneNumber" {
		return s.textSignInCode(ctx, phone, o) // created meanwhile by a concurrent request: text that account
	}
	if err != nil {
		return err
	}
	s.wakeSMS()
	return nil
}

// queueSignInCode creates, through st, a code ticket for u texted to phone (retiring u's older
// codes) and queues its text.
func (s *Server) queueSignInCode(ctx context.Context, st *store.Store, u *store.User, phone string) error {
	now := s.now()
	ttl := s.cfg.SMS.OTPTTL
	t := &store.Ticket{ID: uuid.New(), Kind: store.TicketSignInSMS, UserID: u.ID, Email: phone,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	code, err := newCode(6)
	if err != nil {
		return err
	}
	t.CodeHash = codeHash(t.ID, code)
	if err := st.CreateTicket(ctx, t); err != nil {
		return err
	}
	body, err := s.smsTemplates.Render(sms.KindSignInCode, u.Locale, sms.Data{AppName: s.cfg.AppName, Code: string(code), ExpiresIn: ttl})
	if err != nil {
		return err
	}
	return st.EnqueueSMS(ctx, &store.OutboxSMS{ID: uuid.New(), Kind: string(sms.KindSignInCode), Recipient: phone,
		Body: &body, RequestID: clientFrom(ctx).RequestID, CreatedAt: now, ExpiresAt: t.ExpiresAt})
}

// smsVerify spends the code texted to the number raw names and signs its owner in. The guess
// counts against the number's cap on code guesses (guessCode) before anything else.
func (s *Server) smsVerify(ctx context.Context, raw string, otp secret) (*session, error) {
	if !s.cfg.SMS.PasswordlessEnabled {
		return nil, &Error{Code: CodeDisabledEndpoint}
	}
	n, err := s.smsNumber(raw, false)
	if err != nil {
		return nil, err
	}
	var out *session
	err = s.spendTicketCode(ctx, n.E164, nil, store.TicketSignInSMS, otp, CodeInvalidOTP, func(tx *store.Store, t *store.Ticket) error {
		var err error
		out, err = s.smsSignInComplete(ctx, tx, t)
		return err
	})
	return out, err
}

// smsSignInComplete is what a right texted code does, in tx: it marks the number verified (the
// holder reads its texts) and opens a session for its owner. It is the one place a texted code
// becomes a session, or, for a user with TOTP active, the MFA challenge instead.
func (s *Server) smsSignInComplete(ctx context.Context, tx *store.Store, t *store.Ticket) (*session, error) {
	if err := tx.MarkPhoneVerified(ctx, t.UserID, t.Email); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Code: CodeInvalidOTP, Err: err} // the number is no longer the user's
		}
		return nil, err
	}
	u, err := loadUsableUser(ctx, tx, t.UserID)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, tx, auditEvent{Action: auditTicketUsed, User: u.ID, Detail: store.JSONMap{"kind": t.Kind}}); err != nil {
		return nil, err
	}
	ticket, err := s.secondFactorGate(ctx, tx, u, methodSMSOTP, true)
	if err != nil {
		return nil, err
	}
	if ticket != "" {
		return mfaChallenge(u, ticket), nil
	}
	return s.openSessionSpec(ctx, tx, u, s.nhostSpec(methodSMSOTP))
}

// --- delivery

// smsLease is how long a claimed text is reserved for the instance sending it.
const smsLease = time.Minute

// wakeSMS asks this instance's deliverer to look at the outbox now.
func (s *Server) wakeSMS() {
	select {
	case s.smsWake <- struct{}{}:
	default:
	}
}

// runSMS delivers due texts when woken, and every MailPollInterval for retries and for texts
// queued by other instances, until ctx ends.
func (s *Server) runSMS(ctx context.Context) {
	t := time.NewTicker(s.cfg.MailPollInterval)
	defer t.Stop()
	for {
		if _, err := s.DeliverSMS(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "deliver sms", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.smsWake:
		}
	}
}

// DeliverSMS sends every text that is due now and reports how many went out. Instances share the
// outbox: each text is claimed by one of them before it is sent.
func (s *Server) DeliverSMS(ctx context.Context) (int, error) {
	s.smsMu.Lock()
	defer s.smsMu.Unlock()
	sent := 0
	for ctx.Err() == nil {
		batch, err := s.store.ClaimDueSMS(ctx, 10, s.now().Add(smsLease))
		if err != nil || len(batch) == 0 {
			return sent, err
		}
		for i, m := range batch {
			if ctx.Err() != nil {
				for _, r := range batch[i:] {
					if err := s.store.ReleaseSMS(context.WithoutCancel(ctx), r.ID); err != nil {
						s.log.WarnContext(ctx, "release sms claim", "sms_id", r.ID, "error", err)
					}
				}
				return sent, nil
			}
			if s.deliverSMS(context.WithoutCancel(ctx), m) {
				sent++
			}
		}
	}
	return sent, nil
}

// deliverSMS makes one attempt at a claimed text and records the outcome: sent (its body
// cleared), due again after a backoff (temporary failures), or given up (a permanent refusal,
// logged with the provider's code; too many attempts; or its code has expired). The log never
// holds the body or the number.
func (s *Server) deliverSMS(ctx context.Context, m store.OutboxSMS) bool {
	log := s.log.With("sms_id", m.ID, "sms_kind", m.Kind, "request_id", m.RequestID, "attempt", m.Attempts)
	now := s.now()
	fail := func(reason string, code int, retry time.Time) {
		if err := s.store.MarkSMSFailed(ctx, m.ID, reason, retry); err != nil {
			log.ErrorContext(ctx, "record sms failure", "error", err)
		}
		if retry.IsZero() {
			s.metrics.smsDeliveries.WithLabelValues("given_up").Inc()
			log.WarnContext(ctx, "sms delivery failed; given up", "error", reason, "provider_code", code)
			return
		}
		s.metrics.smsDeliveries.WithLabelValues("retry").Inc()
		log.WarnContext(ctx, "sms delivery failed; will retry", "error", reason, "provider_code", code, "retry_at", retry)
	}
	if !m.ExpiresAt.After(now) || m.Body == nil {
		fail("expired before it could be delivered", 0, time.Time{})
		return false
	}
	id, err := s.smsSender.Send(ctx, sms.Message{To: m.Recipient, Body: *m.Body})
	if err == nil {
		if err := s.store.MarkSMSSent(ctx, m.ID, id); err != nil {
			log.ErrorContext(ctx, "sms sent but not marked sent; it may go out twice", "error", err)
		}
		log.InfoContext(ctx, "sms sent", "provider_id", id)
		s.metrics.smsDeliveries.WithLabelValues("sent").Inc()
		return true
	}
	var retry time.Time
	if sms.Temporary(err) && m.Attempts < s.cfg.SMS.MaxAttempts {
		if at := now.Add(mailBackoff(s.cfg.SMS.RetryBase, m.Attempts)); at.Before(m.ExpiresAt) {
			retry = at
		}
	}
	fail(truncate(err.Error(), 500), sms.ProviderCode(err), retry)
	return false
}

// SendTestSMS sends one test text to raw through the sender c names, directly, without the
// outbox: `latchkey sms test`. It returns the provider's id of the message.
func SendTestSMS(ctx context.Context, c SMSConfig, appName, raw string, log *slog.Logger) (string, error) {
	c = c.withDefaults()
	n, err := sms.Parse(raw, c.DefaultRegion)
	if err != nil {
		return "", err
	}
	sender, err := newSMSSender(c, log)
	if err != nil {
		return "", err
	}
	tpl, err := sms.LoadTemplates(c.TemplatesDir, "en")
	if err != nil {
		return "", err
	}
	body, err := tpl.Render(sms.KindTest, "en", sms.Data{AppName: appName})
	if err != nil {
		return "", err
	}
	return sender.Send(ctx, sms.Message{To: n.E164, Body: body})
}

// --- the admin API

const (
	auditAdminPhoneSet   = "admin.user_phone_set"
	auditAdminPhoneClear = "admin.user_phone_clear"
)

// setPhone gives the user a number (nil: takes it away), for the admin API.
func (s *Server) setPhone(ctx context.Context, by adminCaller, id uuid.UUID, raw *string, verified bool) (*store.User, error) {
	var phone *string
	if raw != nil {
		n, err := s.smsNumber(*raw, false)
		if err != nil {
			return nil, err
		}
		phone = &n.E164
	}
	var out *store.User
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := adminUser(ctx, tx, id); err != nil {
			return err
		}
		err := tx.SetUserPhone(ctx, id, phone, verified)
		var ce *store.ConflictError
		if errors.As(err, &ce) && ce.Field == "phoneNumber" {
			return &Error{Code: CodeConflict, Err: err, Fields: []FieldError{{Field: "/phoneNumber", Reason: "another user has this phone number"}}}
		}
		if err != nil {
			return err
		}
		action := auditAdminPhoneSet
		if phone == nil {
			action = auditAdminPhoneClear
		}
		if err := s.record(ctx, tx, by.event(action, id, store.JSONMap{"verified": phone != nil && verified})); err != nil {
			return err
		}
		out, err = tx.UserWithRoles(ctx, id)
		return err
	})
	return out, err
}
