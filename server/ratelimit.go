package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// CodeRateLimited: a rate limit or a sign-in lock refused the request (429 with Retry-After).
const CodeRateLimited Code = "rate-limited"

// RateLimit allows Requests per Window to one key (a client address, or a target account or
// recipient). Windows are fixed: a client may spend a window's allowance at its end and the next
// one's at the start, so the burst is at most twice Requests.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// RateLimitOff turns a limit off. It is not the zero RateLimit, which a Config field with a
// default (CodeGuessLimit) reads as not set (see Config.withDefaults); any RateLimit without a
// positive Requests and Window limits nothing.
var RateLimitOff = RateLimit{Requests: -1}

// String is the compact form ParseRateLimit reads: "10/1m0s", or "off".
func (l RateLimit) String() string {
	if l == RateLimitOff {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Requests, l.Window)
}

// ParseRateLimit reads "N/duration" ("10/1m", "300/1h"); "0" or "off" turns the group off
// (RateLimitOff).
func ParseRateLimit(v string) (RateLimit, error) {
	v = strings.TrimSpace(v)
	if v == "0" || strings.EqualFold(v, "off") {
		return RateLimitOff, nil
	}
	n, w, ok := strings.Cut(v, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("%q is not N/duration (e.g. 10/1m)", v)
	}
	req, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || req < 0 {
		return RateLimit{}, fmt.Errorf("%q: the count must be a whole number", v)
	}
	win, err := time.ParseDuration(strings.TrimSpace(w))
	if err != nil || win < time.Second {
		return RateLimit{}, fmt.Errorf("%q: the window must be a duration of at least 1s", v)
	}
	return RateLimit{Requests: req, Window: win}, nil
}

// DefaultIPv6Prefix is how much of an IPv6 client address limits key on: a /64 is the smallest
// network a site is given, and whoever holds one holds all of its addresses.
const DefaultIPv6Prefix = 64

// Rate-limit groups: each limited operation belongs to one.
const (
	LimitSignIn  = "signin"  // password, PAT and password-checking operations
	LimitSignUp  = "signup"  // new accounts, anonymous ones included
	LimitRefresh = "refresh" // refresh and token verification: frequent, so generous
	LimitMail    = "mail"    // everything that sends mail to an address
	LimitCode    = "code"    // mailed codes, tickets and reset links
)

// LimitGroups lists the groups, for configuration.
var LimitGroups = []string{LimitSignIn, LimitSignUp, LimitRefresh, LimitMail, LimitCode}

// DefaultRateLimits are generous enough for people and for the test suite, tight enough that a
// script is stopped within a minute.
func DefaultRateLimits() map[string]RateLimit {
	return map[string]RateLimit{
		LimitSignIn:  {Requests: 30, Window: time.Minute},
		LimitSignUp:  {Requests: 20, Window: time.Minute},
		LimitRefresh: {Requests: 300, Window: time.Minute},
		LimitMail:    {Requests: 10, Window: time.Minute},
		LimitCode:    {Requests: 30, Window: time.Minute},
	}
}

// limitRule is how one operation is limited: its group, and where its target (the account or
// recipient the request is about) comes from; a nil target limits by client address only.
type limitRule struct {
	group  string
	what   string // how the refusal names the limit: "sign-in attempts"
	target func(st *reqState, body map[string]any) string
}

// bodyField targets the first non-empty string among fields of the validated body: a sign-in
// name or an address, keyed as subject keys it.
func bodyField(fields ...string) func(*reqState, map[string]any) string {
	return func(_ *reqState, body map[string]any) string {
		for _, f := range fields {
			if v, ok := body[f].(string); ok && strings.TrimSpace(v) != "" {
				return v
			}
		}
		return ""
	}
}

// caller targets the authenticated user.
func caller(st *reqState, _ map[string]any) string {
	if st.principal != nil && st.principal.User != nil {
		return st.principal.User.ID.String()
	}
	return ""
}

// limitedOps maps every credential-accepting and mail-sending operation, by operationId, to its
// limit. Operations not listed are not limited.
var limitedOps = map[string]limitRule{
	// Sign-in and password checks.
	"signInEmailPassword":    {LimitSignIn, "sign-in attempts", bodyField("email")},
	"signInPAT":              {LimitSignIn, "sign-in attempts", nil},
	"wmeLogin":               {LimitSignIn, "sign-in attempts", bodyField("username")},
	"wmeNewPasswordRequired": {LimitSignIn, "sign-in attempts", bodyField("username")},
	"zestyLogin":             {LimitSignIn, "sign-in attempts", bodyField("email")},
	"azSignIn":               {LimitSignIn, "sign-in attempts", bodyField("email")},
	// Security keys: each begun ceremony is a row to store, each answer a signature to check.
	"signInWebauthn":        {LimitSignIn, "sign-in attempts", bodyField("email")},
	"verifySignInWebauthn":  {LimitSignIn, "sign-in attempts", nil},
	"verifyElevateWebauthn": {LimitSignIn, "sign-in attempts", caller},
	// Federated sign-in: each start stores a round trip; each callback and ID token is checked
	// with the provider.
	"signInProvider":             {LimitSignIn, "sign-in attempts", nil},
	"signInProviderCallbackGet":  {LimitSignIn, "sign-in attempts", nil},
	"signInProviderCallbackPost": {LimitSignIn, "sign-in attempts", nil},
	"signInIdToken":              {LimitSignIn, "sign-in attempts", nil},
	"linkIdToken":                {LimitSignIn, "sign-in attempts", caller},
	// Checks of a signed-in caller's password: by address here, and per account in
	// checkCurrentPassword, on the same counters as the sign-ins (WME's token is in the body,
	// out of this table's sight).
	"wmeChangePassword": {LimitSignIn, "password attempts", nil},
	"azUpdatePassword":  {LimitSignIn, "password attempts", nil},
	"azPatchPassword":   {LimitSignIn, "password attempts", nil},
	"azUpdateEmail":     {LimitSignIn, "password attempts", nil},
	"azPatchEmail":      {LimitSignIn, "password attempts", nil},
	// New accounts.
	"signUpEmailPassword":  {LimitSignUp, "sign-ups", bodyField("email")},
	"signInAnonymous":      {LimitSignUp, "sign-ups", nil},
	"azSignUp":             {LimitSignUp, "sign-ups", bodyField("email")},
	"signUpWebauthn":       {LimitSignUp, "sign-ups", bodyField("email")},
	"verifySignUpWebauthn": {LimitSignUp, "sign-ups", nil},
	// Refresh and token checks.
	"refreshToken":    {LimitRefresh, "token requests", nil},
	"verifyToken":     {LimitRefresh, "token requests", nil},
	"wmeTokenRefresh": {LimitRefresh, "token requests", bodyField("username")},
	"zestyVerify":     {LimitRefresh, "token requests", nil},
	// Mail to an address.
	"sendPasswordResetEmail":  {LimitMail, "emails", bodyField("email")},
	"sendVerificationEmail":   {LimitMail, "emails", bodyField("email")},
	"signInPasswordlessEmail": {LimitMail, "emails", bodyField("email")},
	"signInOTPEmail":          {LimitMail, "emails", bodyField("email")},
	"changeUserEmail":         {LimitMail, "emails", bodyField("newEmail")},
	"wmeForgotPassword":       {LimitMail, "emails", bodyField("username")},
	"zestyPasswordRequest":    {LimitMail, "emails", bodyField("email")},
	"azRequestPasswordReset":  {LimitMail, "emails", bodyField("email")},
	"azSendEmailVerification": {LimitMail, "emails", caller},
	// Codes, tickets and reset links.
	"verifySignInOTPEmail":     {LimitCode, "code attempts", bodyField("email")},
	"verifyTicketCode":         {LimitCode, "code attempts", bodyField("email")},
	"verifyTicket":             {LimitCode, "code attempts", nil},
	"tokenExchange":            {LimitCode, "code attempts", nil},
	"confirmTicket":            {LimitCode, "code attempts", nil},
	"changeUserPassword":       {LimitCode, "code attempts", caller},
	"wmeForgotPasswordConfirm": {LimitCode, "code attempts", bodyField("username")},
	"zestyPasswordReset":       {LimitCode, "code attempts", nil},
	"azVerifyEmail":            {LimitCode, "code attempts", nil},
	"azEditPasswordReset":      {LimitCode, "code attempts", nil},
	"azResetPassword":          {LimitCode, "code attempts", nil},
	"azPatchPasswordReset":     {LimitCode, "code attempts", nil},
	// TOTP codes: a sign-in's by address (its ticket names the account, which guessCode caps),
	// a signed-in user's per account too.
	"verifySignInMfaTotp":    {LimitCode, "code attempts", nil},
	"verifyChangeUserMfa":    {LimitCode, "code attempts", caller},
	"createMfaRecoveryCodes": {LimitCode, "code attempts", caller},

	// Texted codes: by address only, since a number's forms differ; each number's guesses are
	// capped after normalisation (guessCode). Texts have their own defences (sms.go).
	"verifySignInPasswordlessSms": {LimitCode, "code attempts", nil},
}

// limited is the private cause of a CodeRateLimited error: which limit, and when to come back.
type limited struct {
	message    string
	retryAfter time.Duration
}

func (l *limited) Error() string { return l.message }

func rateLimited(message string, retryAfter time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Err: &limited{message: message, retryAfter: retryAfter}}
}

// limit refuses, before its handler runs, a request over its operation's limit by client address
// or by target. It runs after validation, so the target is read from the validated body, and a
// malformed request is refused without being counted.
func (s *Server) limit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.cfg.RateLimits {
			return next(c)
		}
		req := c.Request()
		ctx := req.Context()
		st := stateFrom(ctx)
		rule, ok := limitedOps[st.operation]
		if !ok {
			return next(c)
		}
		lim := s.cfg.RateLimitGroups[rule.group]
		if lim.Requests <= 0 || lim.Window <= 0 {
			return next(c)
		}
		if err := s.hit(ctx, rule.group+"|ip:"+s.addrKey(st.client.IP), lim, "too many "+rule.what+" from this address"); err != nil {
			return err
		}
		if rule.target != nil {
			var body map[string]any
			if vb, ok := req.Body.(interface{ ValidatedValue() any }); ok {
				body, _ = vb.ValidatedValue().(map[string]any)
			}
			if t := rule.target(st, body); t != "" {
				if err := s.hit(ctx, targetKey(rule.group, subject(t)), lim, "too many "+rule.what+" for this account"); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// addrKey is the part of a client address that limits and lockouts count by: an IPv4 address
// (an IPv4-mapped IPv6 one too) as it is, an IPv6 address by its network of
// RateLimitIPv6Prefix bits ("2001:db8:1:2::/64"), since whoever holds a network may use any of
// its addresses.
func (s *Server) addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip // not an address (a test transport's peer): counted as given
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(s.cfg.RateLimitIPv6Prefix)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// limitAccount counts a request about an account against its group's per-account allowance, on
// each of the account's names (subjects): the same counters as a request whose body names the
// account. It is for operations whose caller a token identifies, which the limiter cannot see.
func (s *Server) limitAccount(ctx context.Context, group, what string, subjects []string) error {
	lim := s.cfg.RateLimitGroups[group]
	if !s.cfg.RateLimits || lim.Requests <= 0 || lim.Window <= 0 {
		return nil
	}
	for _, subj := range subjects {
		if err := s.hit(ctx, targetKey(group, subj), lim, "too many "+what+" for this account"); err != nil {
			return err
		}
	}
	return nil
}

// targetKey is the counter of a group's requests about one subject (hashed: the counters hold
// no addresses).
func targetKey(group, subj string) string { return group + "|to:" + subj }

// hit counts one request on key and refuses it when the window's allowance is spent.
func (s *Server) hit(ctx context.Context, key string, lim RateLimit, message string) error {
	now := s.now()
	n, reset, err := s.counter.Hit(ctx, key, lim.Window, now)
	if err != nil {
		return err
	}
	if n > int64(lim.Requests) {
		return rateLimited(message, reset.Sub(now))
	}
	return nil
}

// describeLimit adds Retry-After to a refusal and names the limit in the dialect's message.
func describeLimit(e *Error, r *rendered) {
	var l *limited
	if e.Code != CodeRateLimited || !errors.As(e.Err, &l) {
		return
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set("Retry-After", strconv.Itoa(int(math.Ceil(max(l.retryAfter, time.Second).Seconds()))))
	msg := strings.ToUpper(l.message[:1]) + l.message[1:]
	switch b := r.Body.(type) {
	case gen.ErrorResponse:
		b.Message = msg
		r.Body = b
	case gen.WmeError:
		b.Message = msg
		r.Body = b
	case gen.ZestyError:
		b.Message = msg
		r.Body = b
	case gen.AzError:
		b.Error = msg
		r.Body = b
	case plainError:
		r.Status, b.Status, b.Message = http.StatusTooManyRequests, http.StatusTooManyRequests, msg
		r.Body = b
	}
}

func init() {
	// The embedded spec the server routes by spells operationIds capitalised (SendPasswordResetEmail)
	// while the table uses the contract's spelling: index both.
	for id, r := range limitedOps {
		limitedOps[strings.ToUpper(id[:1])+id[1:]] = r
	}
}

// Brute-force protection. Consecutive wrong passwords are counted per sign-in name (the address
// or username a client gives) and address, and per name from any address:
//
//   - from one address, LockoutThreshold failures lock the name for that address for
//     LockoutDuration, doubling with each further failure up to LockoutMaxDuration. The
//     attacker's address is locked out; the owner, elsewhere, is not.
//   - from all addresses together, every LockoutAccountThreshold failures lock the name for
//     LockoutAccountDuration, short and fixed: many addresses can make the owner wait minutes,
//     never lock them out for good, and each further lock costs the attacker another
//     LockoutAccountThreshold guesses, which the per-address rate limits slow down.
//
// While a lock lasts the password is not checked, so the right one does not open it. A
// successful sign-in forgets the failures; failures older than lockoutKeep are forgotten too.
//
// Names are counted whether or not an account has them, so that an address without an account
// is locked exactly as one with an account is, and the lock tells no one which addresses have
// accounts. The same holds for the names of one account: a username and an address are counted
// apart, since counting them together would tell that they are one account's. A password
// checked for a caller identified by a token (a password change) counts on every name of the
// caller's account.
//
// Storage: each counted failure writes at most two rows, which expire lockoutKeep after the last
// failure and are purged. Failures arrive no faster than passwords can be hashed (each one is an
// argon2id verification, real or dummy, behind the hashing queue), and each client address no
// faster than its sign-in rate limit allows, so a flood of made-up names leaves at most
// 2 × hashes per second × lockoutKeep rows, and far fewer under the rate limits.

const lockoutKeep = 24 * time.Hour

// identifier is a sign-in name as a client gave it (an address, or a WME username), normalised
// the one way accounts are looked up. Every limit, lock and cap that counts per account keys on
// it, through subject: a change of the normalisation made here reaches all of them.
func identifier(name string) string { return store.NormalizeEmail(name) }

// subject is the key form of a sign-in name: a hash of its identifier, so the tables hold no
// addresses, computed alike on every instance.
func subject(name string) string {
	sum := sha256.Sum256([]byte(identifier(name)))
	return hex.EncodeToString(sum[:16])
}

// accountSubjects are the subjects of every name u signs in with: its address and its username.
func accountSubjects(u *store.User) []string {
	var out []string
	for _, n := range []*string{u.Email, u.Username} {
		if n != nil && *n != "" && !slices.Contains(out, subject(*n)) {
			out = append(out, subject(*n))
		}
	}
	return out
}

// lockKeys are the lockout keys of one subject: from the caller's address, and from anywhere.
func (s *Server) lockKeys(ctx context.Context, subj string) (addr, account string) {
	return "pw:" + subj + "|" + s.addrKey(clientFrom(ctx).IP), "pw:" + subj
}

// checkLock refuses a password check for a locked subject and reports whether failures are on
// record.
func (s *Server) checkLock(ctx context.Context, subjects ...string) (bool, error) {
	if s.cfg.LockoutThreshold <= 0 || len(subjects) == 0 {
		return false, nil
	}
	var keys []string
	accounts := map[string]bool{}
	for _, subj := range subjects {
		addr, account := s.lockKeys(ctx, subj)
		keys = append(keys, addr, account)
		accounts[account] = true
	}
	ls, err := s.store.LockoutsOf(ctx, keys...)
	if err != nil || len(ls) == 0 {
		return false, err
	}
	now := s.now().Unix()
	var lock *store.Lockout
	for i, l := range ls {
		// The lock that ends last is the wait; of two ending together, the one from this address.
		if l.LockedUntil > now && (lock == nil || l.LockedUntil > lock.LockedUntil ||
			l.LockedUntil == lock.LockedUntil && accounts[lock.Key] && !accounts[l.Key]) {
			lock = &ls[i]
		}
	}
	if lock != nil {
		msg := "too many failed sign-ins for this account from this address"
		if accounts[lock.Key] {
			msg = "too many failed sign-ins for this account"
		}
		return true, rateLimited(msg, time.Duration(lock.LockedUntil-now)*time.Second)
	}
	return true, nil
}

// failLock counts a wrong password on each subject and locks when a threshold is reached.
func (s *Server) failLock(ctx context.Context, subjects ...string) error {
	if s.cfg.LockoutThreshold <= 0 {
		return nil
	}
	now := s.now()
	keep := max(lockoutKeep, 2*s.cfg.LockoutMaxDuration)
	for _, subj := range subjects {
		addr, account := s.lockKeys(ctx, subj)
		n, err := s.store.FailSignIn(ctx, addr, subj, now, keep)
		if err != nil {
			return err
		}
		if over := n - int64(s.cfg.LockoutThreshold); over >= 0 {
			d := s.cfg.LockoutDuration
			for i := int64(0); i < over && d < s.cfg.LockoutMaxDuration; i++ {
				d *= 2
			}
			if err := s.store.LockUntil(ctx, addr, now.Add(min(d, s.cfg.LockoutMaxDuration))); err != nil {
				return err
			}
		}
		if s.cfg.LockoutAccountThreshold <= 0 {
			continue
		}
		n, err = s.store.FailSignIn(ctx, account, subj, now, keep)
		if err != nil {
			return err
		}
		if n%int64(s.cfg.LockoutAccountThreshold) == 0 {
			if err := s.store.LockUntil(ctx, account, now.Add(s.cfg.LockoutAccountDuration)); err != nil {
				return err
			}
		}
	}
	return nil
}

// clearLock forgets the failures of subjects after the right password.
func (s *Server) clearLock(ctx context.Context, subjects ...string) error {
	var keys []string
	for _, subj := range subjects {
		addr, account := s.lockKeys(ctx, subj)
		keys = append(keys, addr, account)
	}
	if len(keys) == 0 {
		return nil
	}
	return s.store.ClearLockouts(ctx, keys...)
}

const auditAdminLockClear = "admin.user_lock_clear"

// AdminClearUserLock implements DELETE /v1/admin/users/{userId}/lock (admin).
func (s *Server) AdminClearUserLock(ctx context.Context, req gen.AdminClearUserLockRequestObject) (gen.AdminClearUserLockResponseObject, error) {
	by, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		u, err := adminUser(ctx, tx, req.UserId)
		if err != nil {
			return err
		}
		n, err := tx.ClearSubjectLockouts(ctx, accountSubjects(u)...)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, by.event(auditAdminLockClear, req.UserId, store.JSONMap{"cleared": n}))
	})
	if err != nil {
		return nil, err
	}
	return gen.AdminClearUserLock204Response{}, nil
}
