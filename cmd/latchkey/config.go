package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/store"
)

// config is every setting, filled from flags and their environment variables, then validated once.
type config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	DBMaxConns  int64
	DBMinConns  int64
	LogFormat   string

	RevocationBound     time.Duration
	RevocationListenURL string
	SessionCacheEntries int64

	LogLevel string

	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	RefreshReuseLeeway time.Duration
	WMEAccessTokenTTL  time.Duration
	WMERefreshTokenTTL time.Duration
	ZestyTokenTTL      time.Duration
	AdminSecret        string
	AdminRole          string
	JWTAlgorithm       string
	JWTSecret          string
	JWTIssuer          string
	ClockSkew          time.Duration
	KeyReloadInterval  time.Duration

	PasswordMinLength   int64
	PasswordHashMemory  string
	HashQueueTimeout    time.Duration
	DefaultRole         string
	DefaultAllowedRoles []string
	DefaultLocale       string
	AllowedLocales      []string

	AnonymousUsers               bool
	DisableSignup                bool
	DisableNewUsers              bool
	RequireVerifiedEmail         bool
	ConcealErrors                bool
	KeepSessionsOnPasswordChange bool
	ResetRevokesPATs             bool
	PATMaxTTL                    time.Duration

	WebAuthnEnabled      bool
	WebAuthnRPName       string
	WebAuthnRPID         string
	WebAuthnRPOrigins    []string
	WebAuthnAttestation  string
	RequireElevatedClaim string

	MaxBody               string
	MemoryLimit           string
	PprofAddr             string
	MetricsAddr           string // "off": no listener of its own
	MetricsToken          string
	SpentTokenRetention   time.Duration
	EndedSessionRetention time.Duration
	PurgeInterval         time.Duration
	ReadHeaderTimeout     time.Duration
	ShutdownTimeout       time.Duration
	RequestTimeout        time.Duration

	mailConfig
	smsConfig

	fileErrs []error // *_FILE variables that named unreadable files

	PasswordMaxLength       int64
	PasswordMinBytes        int64
	PasswordMaxBytes        int64
	HIBPEnabled             bool
	HIBPBaseURL             string
	HIBPTimeout             time.Duration
	HIBPFailClosed          bool
	HIBPMinCount            int64
	TrustedProxies          []string
	CORSOrigins             []string
	CORSCredentials         bool
	HSTSMaxAge              time.Duration
	RateLimits              bool
	RateLimitGroups         map[string]*string // group → "N/window"
	RateLimitIPv6Prefix     int64
	LockoutThreshold        int64
	LockoutDuration         time.Duration
	LockoutMaxDuration      time.Duration
	LockoutAccountThreshold int64
	LockoutAccountDuration  time.Duration
	CodeGuessLimit          string // "N/window" or off

	RedisURL    string // rate-limit counters in Redis (redis.go)
	RedisPrefix string

	MFAEnabled bool   // the TOTP second factor (secrets.go)
	SecretsKey string // base64 AES-256 key sealing the secrets the server reads back
	// SecretsOldKey still opens values sealed before a rotation (serve), or is the key being
	// rotated away from (secrets rotate).
	SecretsOldKey       string
	providers           map[string]*providerSettings // external sign-in providers (providers.go)
	ProviderLinkByEmail bool
	ProviderKeepTokens  bool // provider tokens sealed at rest (providers.go, secrets.go)
}

// fileEnv reads a secret from the file that the environment variable key names (Docker and
// Kubernetes secrets), trimming one trailing newline.
type fileEnv struct {
	key  string
	errs *[]error
}

func (f fileEnv) Lookup() (string, bool) {
	path, ok := os.LookupEnv(f.key)
	if !ok || path == "" {
		return "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		*f.errs = append(*f.errs, fmt.Errorf("%s: %w", f.key, err))
		return "", false
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), true
}
func (f fileEnv) IsFromEnv() bool  { return true }
func (f fileEnv) Key() string      { return f.key }
func (f fileEnv) String() string   { return fmt.Sprintf("file named by environment variable %q", f.key) }
func (f fileEnv) GoString() string { return fmt.Sprintf("fileEnv{%q}", f.key) }

// env is the sources of one setting: each variable, then for secrets the file each *_FILE names.
func (c *config) env(secret bool, keys ...string) cli.ValueSourceChain {
	ch := cli.EnvVars(keys...)
	if secret {
		for _, k := range keys {
			ch.Chain = append(ch.Chain, fileEnv{key: k + "_FILE", errs: &c.fileErrs})
		}
	}
	return ch
}

// storeFlags are the settings every command that touches the database needs.
func (c *config) storeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data-dir", Value: "./data", Destination: &c.DataDir, Sources: c.env(false, "LATCHKEY_DATA_DIR"),
			Usage: "directory for the SQLite database (used when no database URL is set)"},
		&cli.StringFlag{Name: "database-url", Destination: &c.DatabaseURL, Sources: c.env(true, "DATABASE_URL"),
			Usage: "PostgreSQL URL (postgres://…); empty means SQLite in the data directory"},
		&cli.Int64Flag{Name: "db-max-conns", Value: 20, Destination: &c.DBMaxConns, Sources: c.env(false, "LATCHKEY_DB_MAX_CONNS"),
			Usage: "most PostgreSQL connections one instance opens"},
		&cli.StringFlag{Name: "log-format", Value: "auto", Destination: &c.LogFormat, Sources: c.env(false, "LATCHKEY_LOG_FORMAT"),
			Usage: "json, text, or auto (text on a terminal, JSON otherwise)"},
		&cli.StringFlag{Name: "log-level", Value: "info", Destination: &c.LogLevel, Sources: c.env(false, "LATCHKEY_LOG_LEVEL"),
			Usage: "debug, info, warn or error"},
	}
}

// serverOnlyFlags are the settings of serve that the commands reading every other setting of serve
// (user create) do not read: a one-off job has no use for them.
var serverOnlyFlags = []string{"db-min-conns", "revocation-bound", "revocation-listen-url", "session-cache-entries"}

// serveFlags are every setting of `latchkey serve`.
func (c *config) serveFlags() []cli.Flag {
	def := server.DefaultConfig()
	return append(append(c.storeFlags(),
		&cli.Int64Flag{Name: "db-min-conns", Value: 0, Destination: &c.DBMinConns, Sources: c.env(false, "LATCHKEY_DB_MIN_CONNS"),
			Usage: "PostgreSQL connections the server opens at start and keeps open, so a burst of requests does not wait while the pool grows " +
				"(0: opened as queries need them, closed after 5 idle minutes). The cost: each is a backend of the shared PostgreSQL, held by " +
				"every instance even when idle, so N instances hold N times this many of its max_connections. The other commands open " +
				"connections only as they need them"},
		&cli.DurationFlag{Name: "revocation-bound", Value: 250 * time.Millisecond, Destination: &c.RevocationBound, Sources: c.env(false, "LATCHKEY_REVOCATION_BOUND"),
			Usage: "longest another instance may go on accepting a session's tokens after the session was revoked (or its user disabled, deleted or changed); " +
				"within it, authenticated requests are answered from a memory cache of live sessions instead of a database query each. " +
				"The instance that made the change refuses at once (on SQLite: the serving process). 0 turns the cache off: every request asks the database"},
		&cli.StringFlag{Name: "revocation-listen-url", Destination: &c.RevocationListenURL, Sources: c.env(true, "LATCHKEY_REVOCATION_LISTEN_URL"),
			Usage: "PostgreSQL URL the session cache listens for revocations on (default: the database URL); a direct connection to the primary, " +
				"never a transaction-mode pooler (PgBouncer) or a replica, where notifications do not arrive and the cache stays off"},
		&cli.Int64Flag{Name: "session-cache-entries", Value: store.DefaultSessionCacheEntries, Destination: &c.SessionCacheEntries, Sources: c.env(false, "LATCHKEY_SESSION_CACHE_ENTRIES"),
			Usage: "most sessions the cache holds (a hard cap; each holds its user's row, about 1 KiB: 20000 are about 20 MiB)"},
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:4000", Destination: &c.Addr, Sources: c.env(false, "LATCHKEY_ADDR"),
			Usage: "address to listen on"},
		&cli.DurationFlag{Name: "access-token-ttl", Value: def.AccessTokenTTL, Destination: &c.AccessTokenTTL, Sources: c.env(false, "LATCHKEY_ACCESS_TOKEN_TTL"),
			Usage: "life of access tokens (at least 2m: clients refresh when under 60s remain)"},
		&cli.DurationFlag{Name: "refresh-token-ttl", Value: def.RefreshTokenTTL, Destination: &c.RefreshTokenTTL, Sources: c.env(false, "LATCHKEY_REFRESH_TOKEN_TTL"),
			Usage: "life of refresh tokens; an idle session ends after this"},
		&cli.DurationFlag{Name: "refresh-reuse-leeway", Value: def.RefreshReuseLeeway, Destination: &c.RefreshReuseLeeway, Sources: c.env(false, "LATCHKEY_REFRESH_REUSE_LEEWAY"),
			Usage: "how long a just-rotated refresh token still yields the same successor (racing tabs); 0s disables"},
		&cli.DurationFlag{Name: "wme-access-token-ttl", Value: def.WMEAccessTokenTTL, Destination: &c.WMEAccessTokenTTL, Sources: c.env(false, "LATCHKEY_WME_ACCESS_TOKEN_TTL"),
			Usage: "life of access and id tokens of the Wikimedia Enterprise dialect"},
		&cli.DurationFlag{Name: "wme-refresh-token-ttl", Value: def.WMERefreshTokenTTL, Destination: &c.WMERefreshTokenTTL, Sources: c.env(false, "LATCHKEY_WME_REFRESH_TOKEN_TTL"),
			Usage: "life of the Wikimedia Enterprise dialect's reusable refresh tokens (its clients keep one for up to 90 days)"},
		&cli.DurationFlag{Name: "zesty-access-token-ttl", Value: def.ZestyAccessTokenTTL, Destination: &c.ZestyTokenTTL, Sources: c.env(false, "LATCHKEY_ZESTY_ACCESS_TOKEN_TTL"),
			Usage: "life of Zesty access tokens created with /v1/tokens"},
		&cli.StringFlag{Name: "admin-secret", Destination: &c.AdminSecret, Sources: c.env(true, "LATCHKEY_ADMIN_SECRET"),
			Usage: "secret that callers of /v1/admin send in X-Admin-Secret (at least 32 characters); empty: only the admin role authorises"},
		&cli.StringFlag{Name: "admin-role", Value: def.AdminRole, Destination: &c.AdminRole, Sources: c.env(false, "LATCHKEY_ADMIN_ROLE"),
			Usage: "role that, among an access token's allowed roles, authorises /v1/admin"},
		&cli.StringFlag{Name: "jwt-algorithm", Value: def.JWT.Algorithm, Destination: &c.JWTAlgorithm, Sources: c.env(false, "LATCHKEY_JWT_ALGORITHM"),
			Usage: "algorithm of the signing keys Latchkey generates and rotates: ES256, RS256 or EdDSA"},
		&cli.StringFlag{Name: "jwt-secret", Destination: &c.JWTSecret, Sources: c.env(true, "LATCHKEY_JWT_SECRET", "HASURA_GRAPHQL_JWT_SECRET"),
			Usage: `fixed key shared with Hasura, as Hasura's JSON ({"type":"HS256","key":"…"}); replaces managed keys`},
		&cli.StringFlag{Name: "jwt-issuer", Value: def.JWT.Issuer, Destination: &c.JWTIssuer, Sources: c.env(false, "LATCHKEY_JWT_ISSUER"),
			Usage: "iss claim of access tokens"},
		&cli.DurationFlag{Name: "clock-skew", Value: def.JWT.ClockSkew, Destination: &c.ClockSkew, Sources: c.env(false, "LATCHKEY_CLOCK_SKEW"),
			Usage: "how far a token's iat and nbf may be ahead of this instance's clock (other instances' clocks drift); exp is always exact"},
		&cli.DurationFlag{Name: "key-reload-interval", Value: def.KeyReloadInterval, Destination: &c.KeyReloadInterval, Sources: c.env(false, "LATCHKEY_KEY_RELOAD_INTERVAL"),
			Usage: "how often signing keys are re-read, so a rotation reaches every instance"},
		&cli.Int64Flag{Name: "password-min-length", Value: int64(def.PasswordMinLength), Destination: &c.PasswordMinLength, Sources: c.env(false, "LATCHKEY_PASSWORD_MIN_LENGTH"),
			Usage: "shortest password accepted, in characters"},
		&cli.StringFlag{Name: "password-hash-memory", Value: fmt.Sprintf("%dMiB", def.PasswordHashBudget>>20), Destination: &c.PasswordHashMemory, Sources: c.env(false, "LATCHKEY_PASSWORD_HASH_MEMORY"),
			Usage: "memory that concurrent password hashing may use; sign-ins beyond it queue"},
		&cli.DurationFlag{Name: "hash-queue-timeout", Value: def.HashQueueTimeout, Destination: &c.HashQueueTimeout, Sources: c.env(false, "LATCHKEY_HASH_QUEUE_TIMEOUT"),
			Usage: "longest a password check may queue for hashing; one that cannot start in time gets 503 with Retry-After, at once when the queue is visibly too long (0: wait)"},
		&cli.StringFlag{Name: "default-role", Value: def.DefaultRole, Destination: &c.DefaultRole, Sources: c.env(false, "LATCHKEY_DEFAULT_ROLE"),
			Usage: "default role of new users"},
		&cli.StringSliceFlag{Name: "default-allowed-roles", Value: def.DefaultAllowedRoles, Destination: &c.DefaultAllowedRoles, Sources: c.env(false, "LATCHKEY_DEFAULT_ALLOWED_ROLES"),
			Usage: "roles new users get, and the only roles sign-up may ask for (comma-separated)"},
		&cli.StringFlag{Name: "default-locale", Value: def.DefaultLocale, Destination: &c.DefaultLocale, Sources: c.env(false, "LATCHKEY_DEFAULT_LOCALE"),
			Usage: "locale of new users who do not choose one"},
		&cli.StringSliceFlag{Name: "allowed-locales", Value: def.AllowedLocales, Destination: &c.AllowedLocales, Sources: c.env(false, "LATCHKEY_ALLOWED_LOCALES"),
			Usage: "locales users may choose (comma-separated)"},
		&cli.BoolFlag{Name: "anonymous-users", Destination: &c.AnonymousUsers, Sources: c.env(false, "LATCHKEY_ANONYMOUS_USERS"),
			Usage: "allow anonymous sign-in"},
		&cli.BoolFlag{Name: "disable-signup", Destination: &c.DisableSignup, Sources: c.env(false, "LATCHKEY_DISABLE_SIGNUP"),
			Usage: "refuse new accounts"},
		&cli.BoolFlag{Name: "disable-new-users", Destination: &c.DisableNewUsers, Sources: c.env(false, "LATCHKEY_DISABLE_NEW_USERS"),
			Usage: "new accounts start disabled until an administrator enables them"},
		&cli.BoolFlag{Name: "require-verified-email", Destination: &c.RequireVerifiedEmail, Sources: c.env(false, "LATCHKEY_REQUIRE_VERIFIED_EMAIL"),
			Usage: "users must verify their address before signing in; sign-up then mails a verification link instead of signing in"},
		&cli.BoolFlag{Name: "conceal-errors", Destination: &c.ConcealErrors, Sources: c.env(false, "LATCHKEY_CONCEAL_ERRORS"),
			Usage: "hide which addresses have accounts: account-revealing errors become generic; sign-up, address changes and deanonymization answer a taken address as a free one (its owner is mailed instead); a password signs in only once a mailed link has proven the address (until then it is answered and counted as a wrong one); Zesty members are added by userZUID only"},
		&cli.BoolFlag{Name: "keep-sessions-on-password-change", Destination: &c.KeepSessionsOnPasswordChange, Sources: c.env(false, "LATCHKEY_KEEP_SESSIONS_ON_PASSWORD_CHANGE"),
			Usage: "do not end a user's other sessions when the password changes"},
		&cli.BoolFlag{Name: "reset-revokes-pats", Value: !def.KeepPATsOnReset, Destination: &c.ResetRevokesPATs, Sources: c.env(false, "LATCHKEY_RESET_REVOKES_PATS"),
			Usage: "revoke a user's personal access tokens, and the Zesty access tokens they created, with the sessions opened with them, when their password is reset with a mailed link or code, set without the current password in a session a mailed link or code opened, or set by an administrator (a change with the current password keeps them)"},
		&cli.DurationFlag{Name: "pat-max-ttl", Value: def.PATMaxTTL, Destination: &c.PATMaxTTL, Sources: c.env(false, "LATCHKEY_PAT_MAX_TTL"),
			Usage: "longest life a personal access token may ask for; POST /v1/pat refuses a later expiresAt"},
		&cli.BoolFlag{Name: "webauthn-enabled", Destination: &c.WebAuthnEnabled, Sources: c.env(false, "LATCHKEY_WEBAUTHN_ENABLED"),
			Usage: "allow security keys and passkeys: sign-up, sign-in, adding keys and elevation with WebAuthn (Nhost's AUTH_WEBAUTHN_ENABLED)"},
		&cli.StringFlag{Name: "webauthn-rp-name", Destination: &c.WebAuthnRPName, Sources: c.env(false, "LATCHKEY_WEBAUTHN_RP_NAME"),
			Usage: "the name browsers show for this relying party (default: the app name)"},
		&cli.StringFlag{Name: "webauthn-rp-id", Destination: &c.WebAuthnRPID, Sources: c.env(false, "LATCHKEY_WEBAUTHN_RP_ID"),
			Usage: "the relying party id, a domain that security keys are bound to (default: the host of the client URL); changing it orphans every key"},
		&cli.StringSliceFlag{Name: "webauthn-rp-origins", Destination: &c.WebAuthnRPOrigins, Sources: c.env(false, "LATCHKEY_WEBAUTHN_RP_ORIGINS"),
			Usage: "origins of the pages that may run WebAuthn ceremonies (comma-separated; default: the client URL's origin)"},
		&cli.StringFlag{Name: "webauthn-attestation", Value: "none", Destination: &c.WebAuthnAttestation, Sources: c.env(false, "LATCHKEY_WEBAUTHN_ATTESTATION"),
			Usage: "attestation asked of new keys: none, indirect, direct or enterprise"},
		&cli.StringFlag{Name: "require-elevated-claim", Value: "disabled", Destination: &c.RequireElevatedClaim, Sources: c.env(false, "LATCHKEY_REQUIRE_ELEVATED_CLAIM"),
			Usage: "when sensitive Nhost operations (creating a PAT, changing the password or address, changing MFA, adding or removing security keys) need an access token elevated with a security key: disabled, recommended (users who have a key) or required (every user; adding a first key excepted), as Nhost's AUTH_REQUIRE_ELEVATED_CLAIM"},
		&cli.StringFlag{Name: "max-body", Value: fmt.Sprintf("%dKiB", def.MaxBodyBytes>>10), Destination: &c.MaxBody, Sources: c.env(false, "LATCHKEY_MAX_BODY"),
			Usage: "largest request body accepted"},
		&cli.DurationFlag{Name: "spent-token-retention", Value: def.SpentTokenRetention, Destination: &c.SpentTokenRetention, Sources: c.env(false, "LATCHKEY_SPENT_TOKEN_RETENTION"),
			Usage: "how long spent refresh tokens are kept; replaying one within it ends its session"},
		&cli.DurationFlag{Name: "ended-session-retention", Value: def.EndedSessionRetention, Destination: &c.EndedSessionRetention, Sources: c.env(false, "LATCHKEY_ENDED_SESSION_RETENTION"),
			Usage: "how long ended sessions are kept before they are deleted"},
		&cli.DurationFlag{Name: "purge-interval", Value: def.PurgeInterval, Destination: &c.PurgeInterval, Sources: c.env(false, "LATCHKEY_PURGE_INTERVAL"),
			Usage: "how often expired tokens and ended sessions are deleted"},
		&cli.StringFlag{Name: "memory-limit", Value: "auto", Destination: &c.MemoryLimit, Sources: c.env(false, "LATCHKEY_MEMORY_LIMIT"),
			Usage: "soft limit for the Go heap: auto (160MiB plus what password hashing may hold), a size of at least 64MiB, or off (none); " +
				"GOMEMLIMIT in the environment wins over it"},
		&cli.StringFlag{Name: "pprof-addr", Destination: &c.PprofAddr, Sources: c.env(false, "LATCHKEY_PPROF_ADDR"),
			Usage: "serve Go's pprof profiles on this address (keep it on loopback); empty: off"},
		&cli.StringFlag{Name: "metrics-addr", Value: defaultMetricsAddr, Destination: &c.MetricsAddr, Sources: c.env(false, "LATCHKEY_METRICS_ADDR"),
			Usage: "serve Prometheus metrics (GET /metrics) on this address, apart from the API; each instance on a host needs its own; off: no such listener"},
		&cli.StringFlag{Name: "metrics-token", Destination: &c.MetricsToken, Sources: c.env(true, "LATCHKEY_METRICS_TOKEN"),
			Usage: "bearer secret (at least 32 characters) that opens GET /metrics on the API port too; empty: the API port answers 404 there"},
		&cli.DurationFlag{Name: "read-header-timeout", Value: 5 * time.Second, Destination: &c.ReadHeaderTimeout, Sources: c.env(false, "LATCHKEY_READ_HEADER_TIMEOUT"),
			Usage: "time a client has to send its request headers"},
		&cli.DurationFlag{Name: "shutdown-timeout", Value: 20 * time.Second, Destination: &c.ShutdownTimeout, Sources: c.env(false, "LATCHKEY_SHUTDOWN_TIMEOUT"),
			Usage: "time in-flight requests get to finish on SIGTERM"},
		&cli.DurationFlag{Name: "request-timeout", Value: def.RequestTimeout, Destination: &c.RequestTimeout, Sources: c.env(false, "LATCHKEY_REQUEST_TIMEOUT"),
			Usage: "time one request's work (database calls included) may take; past it the answer is 503"},
		&cli.Int64Flag{Name: "password-max-length", Value: int64(def.PasswordMaxLength), Destination: &c.PasswordMaxLength, Sources: c.env(false, "LATCHKEY_PASSWORD_MAX_LENGTH"),
			Usage: "longest password accepted, in characters"},
		&cli.Int64Flag{Name: "password-min-bytes", Value: int64(def.PasswordMinBytes), Destination: &c.PasswordMinBytes, Sources: c.env(false, "LATCHKEY_PASSWORD_MIN_BYTES"),
			Usage: "shortest password accepted, in UTF-8 bytes (0: only the character minimum)"},
		&cli.Int64Flag{Name: "password-max-bytes", Value: int64(def.PasswordMaxBytes), Destination: &c.PasswordMaxBytes, Sources: c.env(false, "LATCHKEY_PASSWORD_MAX_BYTES"),
			Usage: "longest password accepted, in UTF-8 bytes (bounds the password hasher's input)"},
		&cli.BoolFlag{Name: "hibp-enabled", Destination: &c.HIBPEnabled, Sources: c.env(false, "LATCHKEY_HIBP_ENABLED", "AUTH_PASSWORD_HIBP_ENABLED"),
			Usage: "refuse new passwords found in Have I Been Pwned (only a 5-character SHA-1 prefix is sent)"},
		&cli.StringFlag{Name: "hibp-base-url", Value: def.HIBPBaseURL, Destination: &c.HIBPBaseURL, Sources: c.env(false, "LATCHKEY_HIBP_BASE_URL"),
			Usage: "base URL of the Pwned Passwords range API (a mirror or proxy may stand in)"},
		&cli.DurationFlag{Name: "hibp-timeout", Value: def.HIBPTimeout, Destination: &c.HIBPTimeout, Sources: c.env(false, "LATCHKEY_HIBP_TIMEOUT"),
			Usage: "time one breached-password check may take"},
		&cli.BoolFlag{Name: "hibp-fail-closed", Destination: &c.HIBPFailClosed, Sources: c.env(false, "LATCHKEY_HIBP_FAIL_CLOSED"),
			Usage: "refuse (503) a new password when the breach check cannot be made; by default it is accepted with a warning"},
		&cli.Int64Flag{Name: "hibp-min-count", Value: int64(def.HIBPMinCount), Destination: &c.HIBPMinCount, Sources: c.env(false, "LATCHKEY_HIBP_MIN_COUNT"),
			Usage: "breaches a password must appear in to be refused"},
		&cli.StringSliceFlag{Name: "trusted-proxies", Destination: &c.TrustedProxies, Sources: c.env(false, "LATCHKEY_TRUSTED_PROXIES"),
			Usage: "IPs and CIDRs of proxies whose X-Forwarded-For, Forwarded, X-Real-IP and X-Forwarded-Proto are believed (comma-separated); empty: none"},
		&cli.StringSliceFlag{Name: "cors-origins", Destination: &c.CORSOrigins, Sources: c.env(false, "LATCHKEY_CORS_ORIGINS"),
			Usage: "browser origins allowed to call the API (comma-separated scheme://host[:port]), or * for any; empty: no CORS"},
		&cli.BoolFlag{Name: "cors-credentials", Destination: &c.CORSCredentials, Sources: c.env(false, "LATCHKEY_CORS_CREDENTIALS"),
			Usage: "allow credentialed cross-origin requests from the listed origins (not with *)"},
		&cli.DurationFlag{Name: "hsts-max-age", Value: def.HSTSMaxAge, Destination: &c.HSTSMaxAge, Sources: c.env(false, "LATCHKEY_HSTS_MAX_AGE"),
			Usage: "Strict-Transport-Security max-age on answers to HTTPS requests (direct, or via a trusted proxy); 0: not sent"},
	), append(append(append(append(append(c.mailFlags(true), c.smsFlags(true)...), c.limitFlags(def)...), c.redisFlags()...), c.mfaFlags()...), c.providerFlags()...)...)
}

// jobFlags are serve's settings but the server-only ones: those of a command that runs one job
// with the server's rules (user create).
func (c *config) jobFlags() []cli.Flag {
	return slices.DeleteFunc(c.serveFlags(), func(f cli.Flag) bool { return slices.Contains(serverOnlyFlags, f.Names()[0]) })
}

// validateStore checks the settings storeFlags covers (and db-min-conns, which only serve has).
func (c *config) validateStore() error {
	var errs []error
	errs = append(errs, c.fileErrs...)
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database-url / DATABASE_URL must start with postgres:// or postgresql://"))
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("data-dir / LATCHKEY_DATA_DIR must not be empty when no database URL is set"))
	}
	if c.DBMaxConns < 1 {
		errs = append(errs, errors.New("db-max-conns / LATCHKEY_DB_MAX_CONNS must be at least 1"))
	}
	if c.DBMinConns < 0 || c.DBMinConns > c.DBMaxConns {
		errs = append(errs, fmt.Errorf("db-min-conns / LATCHKEY_DB_MIN_CONNS must be between 0 and db-max-conns (%d)", c.DBMaxConns))
	}
	if c.RevocationBound != 0 && (c.RevocationBound < 10*time.Millisecond || c.RevocationBound > 10*time.Second) {
		errs = append(errs, errors.New("revocation-bound / LATCHKEY_REVOCATION_BOUND must be 0 (no cache) or between 10ms and 10s"))
	}
	if c.SessionCacheEntries < 0 || c.SessionCacheEntries > 10_000_000 {
		errs = append(errs, errors.New("session-cache-entries / LATCHKEY_SESSION_CACHE_ENTRIES must be between 0 (the default size) and 10000000"))
	}
	if c.RevocationListenURL != "" && !strings.HasPrefix(c.RevocationListenURL, "postgres://") && !strings.HasPrefix(c.RevocationListenURL, "postgresql://") {
		errs = append(errs, errors.New("revocation-listen-url / LATCHKEY_REVOCATION_LISTEN_URL must start with postgres:// or postgresql://"))
	}
	if !slices.Contains([]string{"auto", "json", "text"}, c.LogFormat) {
		errs = append(errs, fmt.Errorf("log-format / LATCHKEY_LOG_FORMAT must be auto, json or text, not %q", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level / LATCHKEY_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// serverConfig validates every serve setting and converts them for the server package.
func (c *config) serverConfig() (server.Config, error) {
	errs := []error{c.validateStore()}
	bad := func(name, env, why string) { errs = append(errs, fmt.Errorf("%s / %s %s", name, env, why)) }
	if c.AccessTokenTTL < 2*time.Minute {
		bad("access-token-ttl", "LATCHKEY_ACCESS_TOKEN_TTL", "must be at least 2m (clients refresh when under 60s remain)")
	}
	if c.RefreshTokenTTL <= c.AccessTokenTTL {
		bad("refresh-token-ttl", "LATCHKEY_REFRESH_TOKEN_TTL", "must be longer than the access token life")
	}
	if c.RefreshReuseLeeway < 0 || c.RefreshReuseLeeway > time.Minute {
		bad("refresh-reuse-leeway", "LATCHKEY_REFRESH_REUSE_LEEWAY", "must be between 0s and 1m")
	}
	if c.ZestyTokenTTL < time.Hour {
		bad("zesty-access-token-ttl", "LATCHKEY_ZESTY_ACCESS_TOKEN_TTL", "must be at least 1h")
	}
	if c.PATMaxTTL < time.Hour {
		bad("pat-max-ttl", "LATCHKEY_PAT_MAX_TTL", "must be at least 1h")
	}
	webAuthn, err := c.webAuthnConfig()
	if err != nil {
		errs = append(errs, err)
	}
	switch c.RequireElevatedClaim {
	case "disabled", "recommended", "required":
	default:
		bad("require-elevated-claim", "LATCHKEY_REQUIRE_ELEVATED_CLAIM", "must be disabled, recommended or required")
	}
	if c.AdminSecret != "" && len(c.AdminSecret) < 32 {
		bad("admin-secret", "LATCHKEY_ADMIN_SECRET", "must be at least 32 characters") // never echo the secret
	}
	if strings.TrimSpace(c.AdminRole) == "" {
		bad("admin-role", "LATCHKEY_ADMIN_ROLE", "must not be empty")
	}
	if c.WMEAccessTokenTTL < 2*time.Minute {
		bad("wme-access-token-ttl", "LATCHKEY_WME_ACCESS_TOKEN_TTL", "must be at least 2m")
	}
	if c.WMERefreshTokenTTL <= c.WMEAccessTokenTTL {
		bad("wme-refresh-token-ttl", "LATCHKEY_WME_REFRESH_TOKEN_TTL", "must be longer than the WME access token life")
	}
	if !slices.Contains(server.ManagedAlgorithms, c.JWTAlgorithm) {
		bad("jwt-algorithm", "LATCHKEY_JWT_ALGORITHM", fmt.Sprintf("must be one of %v", server.ManagedAlgorithms))
	}
	var secret *server.HasuraJWTSecret
	if c.JWTSecret != "" {
		secret = &server.HasuraJWTSecret{}
		if err := json.Unmarshal([]byte(c.JWTSecret), secret); err != nil {
			bad("jwt-secret", "LATCHKEY_JWT_SECRET", "is not Hasura's JWT secret JSON") // never echo the secret
		} else if err := secret.Validate(); err != nil {
			bad("jwt-secret", "LATCHKEY_JWT_SECRET", "is not usable: "+err.Error())
		}
	}
	if c.ClockSkew < 0 || c.ClockSkew > 5*time.Minute {
		bad("clock-skew", "LATCHKEY_CLOCK_SKEW", "must be between 0s and 5m")
	}
	if c.KeyReloadInterval < time.Second {
		bad("key-reload-interval", "LATCHKEY_KEY_RELOAD_INTERVAL", "must be at least 1s")
	}
	if c.PasswordMinLength < 1 || c.PasswordMinLength > 50 {
		bad("password-min-length", "LATCHKEY_PASSWORD_MIN_LENGTH", "must be between 1 and 50 (the contract's longest password)")
	}
	hashMem, err := parseBytes(c.PasswordHashMemory)
	if err != nil {
		bad("password-hash-memory", "LATCHKEY_PASSWORD_HASH_MEMORY", err.Error())
	} else if min := int64(server.DefaultArgon2Params.Memory) * 1024; hashMem < min {
		bad("password-hash-memory", "LATCHKEY_PASSWORD_HASH_MEMORY", fmt.Sprintf("must hold at least one hash (%d bytes)", min))
	}
	if !slices.Contains(c.DefaultAllowedRoles, c.DefaultRole) {
		bad("default-role", "LATCHKEY_DEFAULT_ROLE", "must be one of the default allowed roles")
	}
	if !slices.Contains(c.AllowedLocales, c.DefaultLocale) {
		bad("default-locale", "LATCHKEY_DEFAULT_LOCALE", "must be one of the allowed locales")
	}
	for _, l := range c.AllowedLocales {
		if len(l) != 2 {
			bad("allowed-locales", "LATCHKEY_ALLOWED_LOCALES", fmt.Sprintf("%q is not a two-letter code", l))
		}
	}
	if c.SpentTokenRetention < c.RefreshReuseLeeway || c.SpentTokenRetention <= 0 {
		bad("spent-token-retention", "LATCHKEY_SPENT_TOKEN_RETENTION", "must be positive and at least the refresh reuse leeway")
	}
	errs = append(errs, c.validateMail(true))
	if c.EndedSessionRetention <= 0 {
		bad("ended-session-retention", "LATCHKEY_ENDED_SESSION_RETENTION", "must be positive")
	}
	if c.RequestTimeout < time.Second {
		bad("request-timeout", "LATCHKEY_REQUEST_TIMEOUT", "must be at least 1s")
	}
	if c.PurgeInterval < time.Second {
		bad("purge-interval", "LATCHKEY_PURGE_INTERVAL", "must be at least 1s")
	}
	if c.MemoryLimit != "auto" && c.MemoryLimit != "off" {
		if n, err := parseBytes(c.MemoryLimit); err != nil || n < 64<<20 {
			bad("memory-limit", "LATCHKEY_MEMORY_LIMIT", "must be auto, off, or a size of at least 64MiB")
		}
	}
	maxBody, err := parseBytes(c.MaxBody)
	if err != nil || maxBody < 1024 {
		bad("max-body", "LATCHKEY_MAX_BODY", "must be a size of at least 1KiB")
	}
	if c.PasswordMaxLength < c.PasswordMinLength || c.PasswordMaxLength > 4096 {
		bad("password-max-length", "LATCHKEY_PASSWORD_MAX_LENGTH", "must be at least password-min-length and at most 4096")
	}
	if c.PasswordMinBytes < 0 || c.PasswordMinBytes > c.PasswordMaxBytes {
		bad("password-min-bytes", "LATCHKEY_PASSWORD_MIN_BYTES", "must be between 0 and password-max-bytes")
	}
	if c.PasswordMaxBytes < c.PasswordMinLength || c.PasswordMaxBytes > 16384 {
		bad("password-max-bytes", "LATCHKEY_PASSWORD_MAX_BYTES", "must be at least password-min-length and at most 16384 (the hasher's input stays bounded)")
	}
	if u, err := url.Parse(c.HIBPBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("hibp-base-url", "LATCHKEY_HIBP_BASE_URL", "must be an http or https URL without a query")
	}
	if c.HashQueueTimeout < 0 {
		bad("hash-queue-timeout", "LATCHKEY_HASH_QUEUE_TIMEOUT", "must not be negative (0 waits without a limit)")
	}
	if c.HIBPTimeout <= 0 || c.HIBPTimeout > 30*time.Second {
		bad("hibp-timeout", "LATCHKEY_HIBP_TIMEOUT", "must be positive and at most 30s")
	}
	if c.HIBPMinCount < 1 {
		bad("hibp-min-count", "LATCHKEY_HIBP_MIN_COUNT", "must be at least 1")
	}
	if _, err := server.ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("trusted-proxies", "LATCHKEY_TRUSTED_PROXIES", "is invalid: "+err.Error())
	}
	for _, o := range c.CORSOrigins {
		if o = strings.TrimSpace(o); o == "*" {
			if len(c.CORSOrigins) > 1 || c.CORSCredentials {
				bad("cors-origins", "LATCHKEY_CORS_ORIGINS", "* must stand alone and cannot be combined with cors-credentials")
			}
		} else if _, err := server.NormalizeOrigin(o); err != nil {
			bad("cors-origins", "LATCHKEY_CORS_ORIGINS", "is invalid: "+err.Error())
		}
	}
	c.validateMetrics(bad)
	if c.HSTSMaxAge < 0 || c.HSTSMaxAge%time.Second != 0 {
		bad("hsts-max-age", "LATCHKEY_HSTS_MAX_AGE", "must be 0 or a positive whole number of seconds")
	}
	limits := c.rateLimits(bad)
	codeGuesses, err := server.ParseRateLimit(c.CodeGuessLimit)
	if err != nil {
		bad("code-guess-limit", "LATCHKEY_CODE_GUESS_LIMIT", "must be N/window, e.g. 20/1h, or off: "+err.Error())
	}
	c.validateRedis(bad)
	c.validateSecrets(bad)
	smsCfg, err := c.smsServer(true)
	errs = append(errs, err)
	providers := c.providerConfigs(bad)
	if err := errors.Join(errs...); err != nil {
		return server.Config{}, err
	}
	issuer, namespace := c.JWTIssuer, ""
	if secret != nil { // Hasura's JSON may carry its own issuer and claims namespace
		if secret.Issuer != "" {
			issuer = secret.Issuer
		}
		namespace = secret.ClaimsNamespace
	}
	return server.Config{
		Version:             buildVersion(),
		AccessTokenTTL:      c.AccessTokenTTL,
		RefreshTokenTTL:     c.RefreshTokenTTL,
		RefreshReuseLeeway:  c.RefreshReuseLeeway,
		WMEAccessTokenTTL:   c.WMEAccessTokenTTL,
		WMERefreshTokenTTL:  c.WMERefreshTokenTTL,
		ZestyAccessTokenTTL: c.ZestyTokenTTL,
		AdminSecret:         c.AdminSecret,
		AdminRole:           strings.TrimSpace(c.AdminRole),
		JWT: server.JWTConfig{
			Algorithm:       c.JWTAlgorithm,
			Secret:          secret,
			Issuer:          issuer,
			ClaimsNamespace: namespace,
			ClockSkew:       c.ClockSkew,
		},
		KeyReloadInterval:            c.KeyReloadInterval,
		PasswordMinLength:            int(c.PasswordMinLength),
		PasswordHashBudget:           hashMem,
		HashQueueTimeout:             c.HashQueueTimeout,
		DefaultRole:                  c.DefaultRole,
		DefaultAllowedRoles:          c.DefaultAllowedRoles,
		DefaultLocale:                c.DefaultLocale,
		AllowedLocales:               c.AllowedLocales,
		AnonymousUsers:               c.AnonymousUsers,
		DisableSignup:                c.DisableSignup,
		DisableNewUsers:              c.DisableNewUsers,
		RequireVerifiedEmail:         c.RequireVerifiedEmail,
		ConcealErrors:                c.ConcealErrors,
		KeepSessionsOnPasswordChange: c.KeepSessionsOnPasswordChange,
		KeepPATsOnReset:              !c.ResetRevokesPATs,
		PATMaxTTL:                    c.PATMaxTTL,
		WebAuthn:                     webAuthn,
		RequireElevatedClaim:         c.RequireElevatedClaim,
		MaxBodyBytes:                 maxBody,
		SpentTokenRetention:          c.SpentTokenRetention,
		EndedSessionRetention:        c.EndedSessionRetention,
		PurgeInterval:                c.PurgeInterval,
		RequestTimeout:               c.RequestTimeout,
		AppName:                      c.AppName,
		PublicURL:                    c.publicURL(),
		ClientURL:                    c.ClientURL,
		AllowedRedirectURLs:          c.AllowedRedirectURLs,
		ConfirmLinks:                 c.ConfirmLinks,
		EmailVerificationTTL:         c.EmailVerificationTTL,
		TicketTTL:                    c.TicketTTL,
		OTPTTL:                       c.OTPTTL,
		CodeMaxAttempts:              int(c.CodeMaxAttempts),

		PasswordMaxLength:       int(c.PasswordMaxLength),
		PasswordMinBytes:        int(c.PasswordMinBytes),
		PasswordMaxBytes:        int(c.PasswordMaxBytes),
		HIBPEnabled:             c.HIBPEnabled,
		HIBPBaseURL:             c.HIBPBaseURL,
		HIBPTimeout:             c.HIBPTimeout,
		HIBPFailClosed:          c.HIBPFailClosed,
		HIBPMinCount:            int(c.HIBPMinCount),
		TrustedProxies:          c.TrustedProxies,
		CORSOrigins:             c.CORSOrigins,
		CORSCredentials:         c.CORSCredentials,
		HSTSMaxAge:              c.HSTSMaxAge,
		RateLimits:              c.RateLimits,
		RateLimitGroups:         limits,
		RateLimitIPv6Prefix:     int(c.RateLimitIPv6Prefix),
		LockoutThreshold:        int(c.LockoutThreshold),
		LockoutDuration:         c.LockoutDuration,
		LockoutMaxDuration:      c.LockoutMaxDuration,
		LockoutAccountThreshold: int(c.LockoutAccountThreshold),
		LockoutAccountDuration:  c.LockoutAccountDuration,
		CodeGuessLimit:          codeGuesses,
		SMS:                     smsCfg,
		MetricsToken:            c.MetricsToken,
		MFAEnabled:              c.MFAEnabled,
		Providers:               providers,
		ProviderLinkByEmail:     c.ProviderLinkByEmail,
		ProviderKeepTokens:      c.ProviderKeepTokens,
	}, nil
}

// storeOptions are the store's settings.
func (c *config) storeOptions(log *slog.Logger) store.Options {
	return store.Options{URL: c.DatabaseURL, DataDir: c.DataDir, Logger: log, MaxOpenConns: int(c.DBMaxConns), MinConns: int(c.DBMinConns),
		RevocationBound: c.RevocationBound, SessionCacheEntries: int(c.SessionCacheEntries), ListenURL: c.RevocationListenURL}
}

// logger builds the process logger: JSON in production, text on a terminal.
func (c *config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	format := c.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// parseBytes reads sizes such as 64KiB, 128MiB, 1GiB, 500KB or a plain number of bytes.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != s {
		return 0, errors.New("must be a size such as 64KiB or 128MiB")
	}
	return n * mult, nil
}

// tuneGC sets the garbage collector for a server, unless the operator set GOGC or GOMEMLIMIT:
// collections at 400% heap growth (server.GCPercent), and a soft heap limit
// (server.MemoryLimit) that keeps a sign-in burst's hashing memory bounded and, during one,
// starts the collections itself.
//
// Each password hash allocates its 19 MiB afresh, so under a flood the heap churns through
// about a gigabyte a second, and the live heap at any collection is the server's own few MiB
// plus the hashes under way, which the hashing slots bound (HashingMemory). Each collection
// costs about 5 ms of CPU whatever the garbage (it marks the server's own heap: the contract,
// templates, caches), so the fewer collections a burst needs, the more of the CPU its hashes
// get. Measured with CPU profiles of a server under 16 concurrent sign-ins on 2 cores (share of
// the server's CPU inside argon2id; a process that only hashes reaches 0.984):
//   - GOGC 200, limit 192 MiB above the hashes: goal 140 MB, 349-355 collections in 20 s,
//     0.886-0.900 of the CPU in argon2id (four runs), peak RSS 229 MiB; a 1000-client flood
//     peaked at 257-271 MiB.
//   - GOGC 400, limit 160 MiB above the hashes (these settings): the limit binds at 180 MB,
//     248-266 collections, 0.890-0.912 in argon2id (four runs; about a point more on average),
//     peak RSS 248 MiB; the flood peaked at 229 MiB, since
//     the limit now bounds it, with the same goodput and its hashes no slower (a hash held its
//     slot 1.22-1.27 times as long as in a quiet process, against 1.28 before).
//   - GOGC 400, limit 192 MiB above: 0.918 in argon2id, but peak RSS 286 MiB, too near the
//     flood's 300 MiB target.
//
// A limit of only 128 MiB above the hashes bound during a flood too hard: the runtime handed
// freed hash memory back to the operating system between hashes and each next hash faulted it
// in again, holding its slot 1.14-1.37 times as long. The memory goes back to the operating
// system once hashing is idle (server: memoryRelease).
func (c *config) tuneGC(hashBudget int64, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(server.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" || c.MemoryLimit == "off" {
		return
	}
	// argon2id's working memory holds no pointers, so collecting it often costs little: the
	// limit can sit just above what hashing holds.
	limit := server.MemoryLimit(hashBudget, nil)
	if c.MemoryLimit != "auto" {
		limit, _ = parseBytes(c.MemoryLimit)
	}
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
}

// limitFlags are the rate-limit and lockout settings: one LATCHKEY_RATE_LIMIT_<GROUP> per group.
func (c *config) limitFlags(def server.Config) []cli.Flag {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "rate-limits", Value: def.RateLimits, Destination: &c.RateLimits, Sources: c.env(false, "LATCHKEY_RATE_LIMITS"),
			Usage: "limit sign-ins, sign-ups, refreshes, mail and codes by client address and, most of them, by the account or recipient they are about"},
	}
	c.RateLimitGroups = map[string]*string{}
	for _, g := range server.LimitGroups {
		v := new(string)
		c.RateLimitGroups[g] = v
		flags = append(flags, &cli.StringFlag{Name: "rate-limit-" + g, Value: def.RateLimitGroups[g].String(), Destination: v,
			Sources: c.env(false, "LATCHKEY_RATE_LIMIT_"+strings.ToUpper(g)),
			Usage:   limitGroupUsage[g] + ": N/window (10/1m), or off"})
	}
	return append(flags,
		&cli.Int64Flag{Name: "rate-limit-ipv6-prefix", Value: int64(def.RateLimitIPv6Prefix), Destination: &c.RateLimitIPv6Prefix,
			Sources: c.env(false, "LATCHKEY_RATE_LIMIT_IPV6_PREFIX"),
			Usage: "rate limits and lockouts count an IPv6 client by this many leading bits of its address (1-128): " +
				"64 treats a whole /64 network, which one holder uses at will, as one client; 128 counts every address alone. " +
				"IPv4 addresses, IPv4-mapped ones included, always count one by one"},
		&cli.Int64Flag{Name: "lockout-threshold", Value: int64(def.LockoutThreshold), Destination: &c.LockoutThreshold, Sources: c.env(false, "LATCHKEY_LOCKOUT_THRESHOLD"),
			Usage: "wrong passwords for one account from one address before it is locked for that address; 0: no lockout"},
		&cli.DurationFlag{Name: "lockout-duration", Value: def.LockoutDuration, Destination: &c.LockoutDuration, Sources: c.env(false, "LATCHKEY_LOCKOUT_DURATION"),
			Usage: "first lock; each further wrong password doubles it"},
		&cli.DurationFlag{Name: "lockout-max-duration", Value: def.LockoutMaxDuration, Destination: &c.LockoutMaxDuration, Sources: c.env(false, "LATCHKEY_LOCKOUT_MAX_DURATION"),
			Usage: "longest lock of one address"},
		&cli.Int64Flag{Name: "lockout-account-threshold", Value: int64(def.LockoutAccountThreshold), Destination: &c.LockoutAccountThreshold, Sources: c.env(false, "LATCHKEY_LOCKOUT_ACCOUNT_THRESHOLD"),
			Usage: "wrong passwords from all addresses that lock the account everywhere, briefly; 0: never"},
		&cli.DurationFlag{Name: "lockout-account-duration", Value: def.LockoutAccountDuration, Destination: &c.LockoutAccountDuration, Sources: c.env(false, "LATCHKEY_LOCKOUT_ACCOUNT_DURATION"),
			Usage: "the account-wide lock; keep it short, so no one can lock a user out for long"},
		&cli.StringFlag{Name: "code-guess-limit", Value: def.CodeGuessLimit.String(), Destination: &c.CodeGuessLimit, Sources: c.env(false, "LATCHKEY_CODE_GUESS_LIMIT"),
			Usage: "guesses of mailed codes (sign-in codes, the codes of mailed links, WME confirmation codes) about one address " +
				"or username, across all the codes it is sent: N/window (20/1h); the guess that reaches N locks it for the window, " +
				"right code included; or off. Each code also dies after code-max-attempts wrong tries"},
	)
}

// limitGroupUsage says what each rate-limit group allows, and per what (server.limitedOps).
var limitGroupUsage = map[string]string{
	server.LimitSignIn: "password and PAT sign-ins, and checks of a signed-in user's current password, allowed per client address " +
		"and per account (the name in the body, or the signed-in user; PAT sign-ins per address only)",
	server.LimitSignUp:  "sign-ups allowed per client address and per address signed up (anonymous ones per client address only)",
	server.LimitRefresh: "refreshes and token checks allowed per client address (the WME dialect's /v1/token-refresh also per username)",
	server.LimitMail: "mail (resets, verifications, sign-in links and codes, address changes) allowed per client address " +
		"and per recipient (the address or username in the body, or the signed-in user)",
	server.LimitCode: "tries of mailed codes, tickets and reset links allowed per client address, and per account " +
		"when the body names one or the user is signed in",
}

// rateLimits parses the per-group allowances and checks the lockout settings.
func (c *config) rateLimits(bad func(name, env, why string)) map[string]server.RateLimit {
	out := server.DefaultRateLimits()
	for g, v := range c.RateLimitGroups {
		if v == nil {
			continue
		}
		l, err := server.ParseRateLimit(*v)
		if err != nil {
			bad("rate-limit-"+g, "LATCHKEY_RATE_LIMIT_"+strings.ToUpper(g), "must be N/window, e.g. 10/1m, or off: "+err.Error())
			continue
		}
		out[g] = l
	}
	if c.RateLimitIPv6Prefix < 1 || c.RateLimitIPv6Prefix > 128 {
		bad("rate-limit-ipv6-prefix", "LATCHKEY_RATE_LIMIT_IPV6_PREFIX", "must be a prefix length from 1 to 128")
	}
	if c.LockoutThreshold < 0 || c.LockoutAccountThreshold < 0 {
		bad("lockout-threshold", "LATCHKEY_LOCKOUT_THRESHOLD", "and the account threshold must not be negative")
	}
	if c.LockoutThreshold > 0 && (c.LockoutDuration < time.Second || c.LockoutMaxDuration < c.LockoutDuration) {
		bad("lockout-duration", "LATCHKEY_LOCKOUT_DURATION", "must be at least 1s and at most the lockout max duration")
	}
	if c.LockoutAccountThreshold > 0 && (c.LockoutAccountDuration < time.Second || c.LockoutAccountDuration > time.Hour) {
		bad("lockout-account-duration", "LATCHKEY_LOCKOUT_ACCOUNT_DURATION", "must be between 1s and 1h, so no one is locked out for long")
	}
	return out
}
