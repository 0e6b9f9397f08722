// Package server is Latchkey's HTTP side: the dialect handlers generated from the contract, the
// middleware that validates and authenticates requests, and the dialect-free core they share.
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/internal/sealed"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/server/sms"
	"github.com/latchkey/latchkey/store"
)

// Config is every setting the server reads. cmd/latchkey parses and validates it once.
type Config struct {
	Version string

	AccessTokenTTL     time.Duration // life of access tokens (Nhost: 15m)
	RefreshTokenTTL    time.Duration // life of refresh tokens and idle sessions (Nhost: 30 days)
	RefreshReuseLeeway time.Duration // how long a just-rotated refresh token still yields its successor
	JWT                JWTConfig
	KeyReloadInterval  time.Duration // how often managed signing keys are re-read

	PasswordMinLength   int              // Nhost: 9
	PasswordHashBudget  int64            // bytes of memory that concurrent password hashing may use
	PasswordHashParams  *argon2id.Params // nil: DefaultArgon2Params
	HashQueueTimeout    time.Duration    // longest wait for a hashing slot before a 503; 0: no limit
	DefaultRole         string           // Nhost: "user"
	DefaultAllowedRoles []string         // Nhost: ["user", "me"]
	DefaultLocale       string           // "en"
	AllowedLocales      []string         // locales a user may choose

	AnonymousUsers       bool // POST /v1/signin/anonymous (Nhost: off)
	DisableSignup        bool // no new accounts through sign-up
	DisableNewUsers      bool // new accounts start disabled
	RequireVerifiedEmail bool // unverified users cannot sign in and sign-up returns no session
	ConcealErrors        bool // no answer tells which addresses have accounts (errors, sign-up, address change)
	// KeepSessionsOnPasswordChange leaves the user's other sessions alive when the password
	// changes; by default they end.
	KeepSessionsOnPasswordChange bool
	// KeepPATsOnReset leaves the user's personal access tokens, and the Zesty access tokens they
	// created, alive when the password is reset with a mailed ticket, set without the current
	// password in a session a mailed link or code opened, or set by an administrator; by default
	// they are revoked with the sessions they opened (whoever minted them may be who the reset
	// locks out).
	KeepPATsOnReset bool
	// PATMaxTTL is the longest life a personal access token may ask for (one year).
	PATMaxTTL time.Duration

	// WebAuthn is how security keys and passkeys work (webauthn.go).
	WebAuthn WebAuthnConfig
	// RequireElevatedClaim is when sensitive Nhost operations need an elevated access token:
	// disabled (or ""), recommended or required (elevation.go).
	RequireElevatedClaim string

	MaxBodyBytes int64 // request bodies above this are 413
	// RequestTimeout bounds one request's work, database calls included: a request that cannot
	// finish in it (the database stopped answering) is answered 503 instead of hanging.
	RequestTimeout time.Duration

	// Mail and mailed tickets.
	AppName              string        // product name in mail ("Latchkey")
	PublicURL            string        // where Latchkey is reached: mailed links start here
	ClientURL            string        // the application: default redirect target, always allowed
	AllowedRedirectURLs  []string      // further redirect targets: URLs, origins, `*` patterns
	ConfirmLinks         bool          // mailed links open a confirmation page that completes with a POST
	EmailVerificationTTL time.Duration // life of address-verification links
	TicketTTL            time.Duration // life of reset, sign-in and address-change links
	OTPTTL               time.Duration // life of one-time sign-in codes
	CodeMaxAttempts      int           // wrong tries a mailed code survives
	MailRetryBase        time.Duration // first wait after a temporary delivery failure; doubles each time
	MailMaxAttempts      int           // delivery attempts before a message is given up
	MailPollInterval     time.Duration // how often each instance looks for mail that is due

	// Wikimedia Enterprise dialect.
	WMEAccessTokenTTL       time.Duration // life of its access and id tokens (24h)
	WMERefreshTokenTTL      time.Duration // life of its reusable refresh tokens and sessions (90 days)
	NewPasswordChallengeTTL time.Duration // how long a NEW_PASSWORD_REQUIRED challenge can be answered

	// Zesty Accounts dialect.
	ZestyAccessTokenTTL time.Duration // life of access tokens minted by /v1/tokens (90 days)

	// Admin API.
	AdminSecret string // X-Admin-Secret value that authorises /v1/admin; empty: only the admin role does
	AdminRole   string // a role that, in an access token's allowed roles, authorises /v1/admin

	// SpentTokenRetention is how long a spent refresh token is kept: a replay within it ends the
	// session (theft detection); after it, the token is deleted and a replay is merely refused.
	SpentTokenRetention time.Duration
	// EndedSessionRetention is how long ended sessions stay listed before they are deleted.
	EndedSessionRetention time.Duration
	// PurgeInterval is how often each instance deletes what the retentions no longer keep.
	PurgeInterval time.Duration

	// Password policy beyond PasswordMinLength (see passwordpolicy.go) and the breached-password
	// check against the Have I Been Pwned range API (see breach.go).
	PasswordMaxLength int           // longest password, in characters (256)
	PasswordMinBytes  int           // shortest password, in bytes (0: no bound beyond the characters)
	PasswordMaxBytes  int           // longest password, in bytes (1024): bounds argon2's input
	HIBPEnabled       bool          // refuse passwords found in the breach corpus (Nhost: off)
	HIBPBaseURL       string        // the range API (https://api.pwnedpasswords.com)
	HIBPTimeout       time.Duration // one range request's time limit (2s)
	HIBPFailClosed    bool          // refuse (503) passwords that cannot be checked; by default they pass
	HIBPMinCount      int           // breaches a password needs to be refused (1)
	// Edges: trusted proxies, CORS, security headers.
	TrustedProxies  []string      // IPs and CIDRs whose forwarding headers are believed; empty: none
	CORSOrigins     []string      // origins browsers may call from; "*" any (no credentials); empty: no CORS
	CORSCredentials bool          // allow credentialed cross-origin requests from the listed origins
	HSTSMaxAge      time.Duration // Strict-Transport-Security max-age on HTTPS answers; 0: not sent
	// Rate limits and brute-force lockout (ratelimit.go).
	RateLimits              bool                 // limit credential-accepting and mail-sending operations
	RateLimitGroups         map[string]RateLimit // group → allowance per client address and per target
	RateLimitIPv6Prefix     int                  // leading bits of an IPv6 client address limits and lockouts key on (64)
	LockoutThreshold        int                  // wrong passwords from one address before a lock; 0: no lockout
	LockoutDuration         time.Duration        // the first lock; each further failure doubles it
	LockoutMaxDuration      time.Duration        // the longest lock of one address
	LockoutAccountThreshold int                  // wrong passwords from all addresses per account-wide lock; 0: none
	LockoutAccountDuration  time.Duration        // the account-wide lock: short, so no one is locked out for good
	CodeGuessLimit          RateLimit            // guesses of short codes about one sign-in name, across its codes; zero: the default; RateLimitOff: no cap

	// MFAEnabled turns on the TOTP second factor (Nhost's AUTH_MFA_ENABLED); off, its operations
	// answer disabled-endpoint and no sign-in asks for a second factor.
	MFAEnabled bool
	// SMS is phone sign-in by texted code and its defences (sms.go).
	SMS SMSConfig
	// Providers configures external sign-in providers by name (providers.go); a provider is on
	// when it has a client id.
	Providers map[string]ProviderConfig
	// ProviderLinkByEmail links a provider account to the existing account with the same address
	// when both the provider and Latchkey have seen the address proven.
	ProviderLinkByEmail bool
	// ProviderKeepTokens keeps the access and refresh tokens a provider hands over at each
	// sign-in through it, sealed with Secrets (provider_tokens.go); off, none is stored.
	ProviderKeepTokens bool

	// MetricsToken is the bearer secret that opens GET /metrics on the API port; empty: metrics
	// are not served there (404), only by MetricsHandler on a listener of their own.
	MetricsToken string
}

// Deps is what New needs from outside.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	Now    func() time.Time // the clock; tests inject one they can move
	Config Config
	// Mailer delivers mail from the outbox; nil writes each message to the log instead (the
	// development default, so every flow can be completed without SMTP).
	Mailer mail.Sender
	// SMSSender delivers texts from the SMS outbox; nil: the sender Config.SMS names.
	SMSSender sms.Sender
	// Templates renders mail; nil uses the built-in templates.
	Templates *mail.Templates
	// Counter holds the rate-limit counters; nil keeps them in Store. When it also reports its
	// readiness (ReadyCheck), /readyz includes it.
	Counter store.Counter
	// Secrets seals the secrets the server must read back (TOTP secrets, kept provider tokens).
	// Required when MFA is enabled or provider tokens are kept; every instance of a deployment
	// must hold the same key.
	Secrets *sealed.Keyring
}

// Server implements every operation of the contract.
type Server struct {
	cfg           Config
	store         *store.Store
	log           *slog.Logger
	now           func() time.Time
	passwords     *passwords
	keys          *keyring
	jwtParser     *jwt.Parser
	verified      *verifiedTokens
	spec          *openapi3.T
	ops           map[string]*operation
	pathDialects  map[string]dialect // Echo path → the dialect of its operations
	filterOptions *openapi3filter.Options
	metrics       *metrics
	mailer        mail.Sender
	templates     *mail.Templates
	mailWake      chan struct{}
	mailMu        sync.Mutex // one delivery pass at a time
	redirects     *redirectRules
	breach        *breachChecker
	edges         *edges               // trusted proxies, CORS origins, HSTS
	counter       store.Counter        // rate-limit counters shared by every instance
	metricsToken  []byte               // SHA-256 of Config.MetricsToken; nil: no metrics on the API port
	wa            *webauthn.WebAuthn   // the WebAuthn relying party; nil while WebAuthn is off
	providers     map[string]*provider // configured external sign-in providers
	secrets       *sealed.Keyring

	// SMS sign-in (sms.go): the sender, the texts' templates, the deliverer's wake-up and its
	// one pass at a time, and the Unix hour the global ceiling was last logged in.
	smsSender        sms.Sender
	smsTemplates     *sms.Templates
	smsWake          chan struct{}
	smsMu            sync.Mutex
	smsCeilingLogged atomic.Int64
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New builds a Server: it loads the contract, prepares signing keys (generating the first one on
// a fresh database) and the password hasher.
func New(ctx context.Context, d Deps) (*Server, error) {
	if d.Store == nil {
		return nil, errors.New("server needs a store")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg := d.Config.withDefaults()
	clock := d.Now
	// Every time the server computes (expiries above all) is in UTC, whatever the host's zone:
	// SQLite compares stored times as text.
	now := func() time.Time { return clock().UTC() }
	s := &Server{cfg: cfg, store: d.Store, log: d.Logger, now: now, counter: d.Store, secrets: d.Secrets}
	if cfg.MFAEnabled && d.Secrets == nil {
		return nil, errors.New("MFA is enabled but no secrets key is set (LATCHKEY_SECRETS_KEY)")
	}
	if cfg.ProviderKeepTokens && d.Secrets == nil {
		return nil, errors.New("provider tokens are kept but no secrets key is set (LATCHKEY_SECRETS_KEY)")
	}
	if d.Counter != nil {
		s.counter = d.Counter
	}

	providers, err := newProviders(cfg.Providers, now)
	if err != nil {
		return nil, err
	}
	s.providers = providers

	spec, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load contract: %w", err)
	}
	spec.Servers = nil // requests are matched on their path, whatever host they came to
	if s.ops, err = operations(spec); err != nil {
		return nil, fmt.Errorf("index contract: %w", err)
	}
	s.pathDialects = map[string]dialect{}
	for key, op := range s.ops {
		_, path, _ := strings.Cut(key, " ")
		s.pathDialects[path] = op.dialect
	}
	s.spec = spec
	s.filterOptions = s.validationOptions()

	params := cfg.PasswordHashParams
	if params == nil {
		params = DefaultArgon2Params
	}
	if s.passwords, err = newPasswords(params, cfg.PasswordHashBudget, cfg.HashQueueTimeout); err != nil {
		return nil, err
	}
	if s.keys, err = newKeyring(ctx, d.Store, cfg.JWT, cfg.KeyReloadInterval, d.Logger); err != nil {
		return nil, err
	}
	s.jwtParser = newJWTParser(cfg.JWT, now)
	s.verified = newVerifiedTokens(8192)
	s.metrics = newMetrics(s)
	if cfg.MetricsToken != "" {
		sum := sha256.Sum256([]byte(cfg.MetricsToken))
		s.metricsToken = sum[:]
	}
	s.breach = newBreachChecker(cfg)

	if s.redirects, err = compileRedirects(cfg.ClientURL, cfg.AllowedRedirectURLs); err != nil {
		return nil, err
	}
	s.mailer, s.templates = d.Mailer, d.Templates
	if s.mailer == nil {
		s.mailer = &mail.LogSender{Log: d.Logger}
	}
	if s.templates == nil {
		if s.templates, err = mail.LoadTemplates("", cfg.DefaultLocale); err != nil {
			return nil, fmt.Errorf("load mail templates: %w", err)
		}
	}
	if cfg.WebAuthn.Enabled {
		if s.wa, err = newWebAuthn(cfg); err != nil {
			return nil, err
		}
	}
	s.mailWake = make(chan struct{}, 1)
	s.smsWake = make(chan struct{}, 1)
	if s.smsSender = d.SMSSender; s.smsSender == nil {
		if s.smsSender, err = newSMSSender(cfg.SMS, d.Logger); err != nil {
			return nil, err
		}
	}
	if s.smsTemplates, err = sms.LoadTemplates(cfg.SMS.TemplatesDir, cfg.DefaultLocale); err != nil {
		return nil, fmt.Errorf("load sms templates: %w", err)
	}
	if s.edges, err = newEdges(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Run does the server's background work until ctx ends: reloading signing keys, delivering mail
// from the outbox, and purging
// spent refresh tokens and ended sessions past their retention. Every instance runs it; purges
// are idempotent, so overlapping ones are harmless.
//
// It returns once all of that has stopped, so the caller may close the store after it: a mail
// attempt under way when ctx ends is finished (within the SMTP timeout) and recorded first.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.keys.run(ctx) })
	wg.Go(func() { s.runMailer(ctx) })
	wg.Go(func() { s.runSMS(ctx) })
	t := time.NewTicker(s.cfg.PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "purge", "error", err)
			}
		}
	}
}

// Purge deletes spent refresh tokens and ended sessions past their retention and reports how
// many rows went.
func (s *Server) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	n, err := s.store.Purge(ctx, now.Add(-s.cfg.SpentTokenRetention), now.Add(-s.cfg.EndedSessionRetention))
	if err == nil {
		var m int64
		m, err = s.store.PurgeRateLimits(ctx, now)
		n += m
	}
	if err == nil {
		var m int64
		m, err = s.store.PurgeSMS(ctx, now.Add(-s.cfg.EndedSessionRetention))
		n += m
	}
	if err == nil {
		var m int64
		m, err = s.store.PurgeWebAuthnCeremonies(ctx, now)
		n += m
	}
	if n > 0 {
		s.log.InfoContext(ctx, "purged", "rows", n)
	}
	return n, err
}

// DefaultConfig is Latchkey's configuration when nothing is set: Nhost's defaults, plus the
// refresh-reuse leeway. The command line starts from it, as do tests.
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:      15 * time.Minute,
		RefreshTokenTTL:     30 * 24 * time.Hour,
		RefreshReuseLeeway:  10 * time.Second,
		JWT:                 JWTConfig{Algorithm: AlgES256, Issuer: "latchkey", ClaimsNamespace: DefaultClaimsNamespace, ClockSkew: 30 * time.Second},
		KeyReloadInterval:   time.Minute,
		PasswordMinLength:   9,
		PasswordHashBudget:  128 << 20,
		HashQueueTimeout:    DefaultHashQueueTimeout,
		DefaultRole:         "user",
		DefaultAllowedRoles: []string{"user", "me"},
		DefaultLocale:       "en",
		ProviderLinkByEmail: true,
		AllowedLocales:      []string{"en"},
		MaxBodyBytes:        64 << 10,
		RequestTimeout:      15 * time.Second,

		AppName:              "Latchkey",
		PublicURL:            "http://127.0.0.1:4000",
		ClientURL:            "http://localhost:3000",
		EmailVerificationTTL: 24 * time.Hour,
		TicketTTL:            time.Hour,
		OTPTTL:               10 * time.Minute,
		CodeMaxAttempts:      5,
		MailRetryBase:        30 * time.Second,
		MailMaxAttempts:      12,
		MailPollInterval:     5 * time.Second,

		WMEAccessTokenTTL:       24 * time.Hour,
		WMERefreshTokenTTL:      90 * 24 * time.Hour,
		NewPasswordChallengeTTL: 5 * time.Minute,
		ZestyAccessTokenTTL:     90 * 24 * time.Hour,
		PATMaxTTL:               DefaultPATMaxTTL,
		AdminRole:               "admin",

		SpentTokenRetention:   24 * time.Hour,
		EndedSessionRetention: 7 * 24 * time.Hour,
		PurgeInterval:         10 * time.Minute,

		PasswordMaxLength:       defaultPasswordMaxRunes,
		PasswordMaxBytes:        defaultPasswordMaxBytes,
		HIBPBaseURL:             DefaultHIBPBaseURL,
		HIBPTimeout:             defaultHIBPTimeout,
		HIBPMinCount:            1,
		HSTSMaxAge:              365 * 24 * time.Hour,
		RateLimits:              true,
		RateLimitGroups:         DefaultRateLimits(),
		RateLimitIPv6Prefix:     DefaultIPv6Prefix,
		LockoutThreshold:        10,
		LockoutDuration:         15 * time.Minute,
		LockoutMaxDuration:      24 * time.Hour,
		LockoutAccountThreshold: 50,
		LockoutAccountDuration:  5 * time.Minute,
		CodeGuessLimit:          RateLimit{Requests: 20, Window: time.Hour},

		SMS: DefaultSMSConfig(),
	}
}

// withDefaults fills fields left at their zero value, where zero cannot be meant, from
// DefaultConfig. RefreshReuseLeeway is not among them: zero turns the leeway off.
func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = "0.0.0-dev"
	}
	c.SMS = c.SMS.withDefaults()
	if c.AccessTokenTTL <= 0 {
		c.AccessTokenTTL = 15 * time.Minute
	}
	if c.RefreshTokenTTL <= 0 {
		c.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if c.RefreshReuseLeeway < 0 {
		c.RefreshReuseLeeway = 0
	}
	// The remaining fields fall back to DefaultConfig's values.
	if c.JWT.Algorithm == "" {
		c.JWT.Algorithm = AlgES256
	}
	if c.JWT.Issuer == "" {
		c.JWT.Issuer = "latchkey"
	}
	if c.JWT.ClaimsNamespace == "" {
		c.JWT.ClaimsNamespace = DefaultClaimsNamespace
	}
	if c.JWT.ClockSkew < 0 {
		c.JWT.ClockSkew = 0
	}
	if c.KeyReloadInterval == 0 {
		c.KeyReloadInterval = time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.PasswordMinLength <= 0 {
		c.PasswordMinLength = 9
	}
	if c.PasswordHashBudget <= 0 {
		c.PasswordHashBudget = 128 << 20
	}
	if c.DefaultRole == "" {
		c.DefaultRole = "user"
	}
	if len(c.DefaultAllowedRoles) == 0 {
		c.DefaultAllowedRoles = []string{"user", "me"}
	}
	if c.DefaultLocale == "" {
		c.DefaultLocale = "en"
	}
	if len(c.AllowedLocales) == 0 {
		c.AllowedLocales = []string{c.DefaultLocale}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	def := DefaultConfig()
	if c.SpentTokenRetention <= 0 {
		c.SpentTokenRetention = def.SpentTokenRetention
	}
	if c.EndedSessionRetention <= 0 {
		c.EndedSessionRetention = def.EndedSessionRetention
	}
	if c.PurgeInterval <= 0 {
		c.PurgeInterval = def.PurgeInterval
	}
	if c.AppName == "" {
		c.AppName = def.AppName
	}
	if c.PublicURL == "" {
		c.PublicURL = def.PublicURL
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.ClientURL == "" {
		c.ClientURL = def.ClientURL
	}
	for _, d := range []struct{ v, def *time.Duration }{
		{&c.EmailVerificationTTL, &def.EmailVerificationTTL}, {&c.TicketTTL, &def.TicketTTL},
		{&c.OTPTTL, &def.OTPTTL}, {&c.MailRetryBase, &def.MailRetryBase}, {&c.MailPollInterval, &def.MailPollInterval},
		{&c.WMEAccessTokenTTL, &def.WMEAccessTokenTTL}, {&c.WMERefreshTokenTTL, &def.WMERefreshTokenTTL},
		{&c.NewPasswordChallengeTTL, &def.NewPasswordChallengeTTL}, {&c.PATMaxTTL, &def.PATMaxTTL},
	} {
		if *d.v <= 0 {
			*d.v = *d.def
		}
	}
	if c.CodeMaxAttempts <= 0 {
		c.CodeMaxAttempts = def.CodeMaxAttempts
	}
	if c.MailMaxAttempts <= 0 {
		c.MailMaxAttempts = def.MailMaxAttempts
	}
	if c.PasswordMaxLength <= 0 {
		c.PasswordMaxLength = def.PasswordMaxLength
	}
	if c.PasswordMaxBytes <= 0 {
		c.PasswordMaxBytes = def.PasswordMaxBytes
	}
	if c.HIBPBaseURL == "" {
		c.HIBPBaseURL = def.HIBPBaseURL
	}
	if c.HIBPTimeout <= 0 {
		c.HIBPTimeout = def.HIBPTimeout
	}
	if c.HIBPMinCount <= 0 {
		c.HIBPMinCount = def.HIBPMinCount
	}
	if c.RateLimitIPv6Prefix <= 0 || c.RateLimitIPv6Prefix > 128 {
		c.RateLimitIPv6Prefix = def.RateLimitIPv6Prefix
	}
	if c.CodeGuessLimit == (RateLimit{}) { // not set; RateLimitOff turns the cap off
		c.CodeGuessLimit = def.CodeGuessLimit
	}
	return c
}
