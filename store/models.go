package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// The GORM models mirror migrations/*/00001_init.sql column for column. The store contract suite
// writes and reads every column on both databases, which is what catches a drift between them.

// User is one account, whatever dialect created it.
type User struct {
	ID                  uuid.UUID
	ZUID                string `gorm:"column:zuid"`
	CreatedAt           time.Time
	UpdatedAt           time.Time
	LastSeenAt          *time.Time
	Email               *string
	EmailLower          *string
	Username            *string
	PhoneNumber         *string
	PhoneNumberVerified bool
	DisplayName         string
	AvatarURL           string `gorm:"column:avatar_url"`
	Locale              string
	Metadata            JSONMap
	DefaultRole         string
	EmailVerified       bool
	Disabled            bool
	IsAnonymous         bool
	NewPasswordRequired bool
	PasswordHash        *string `json:"-"`
	TOTPSecret          *string `gorm:"column:totp_secret" json:"-"`
	ActiveMFAType       *string `gorm:"column:active_mfa_type"`

	// Roles are the user's global roles, sorted; only the queries that say so fill them.
	Roles []string `gorm:"-"`
}

// TableName is the users table.
func (User) TableName() string { return "users" }

// UserRole grants a global role to a user.
type UserRole struct {
	UserID uuid.UUID
	Role   string
}

// TableName is the user_roles table.
func (UserRole) TableName() string { return "user_roles" }

// Session is one sign-in on one device. Every token a sign-in yields hangs off it.
type Session struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	Method       string // how it was opened: password, anonymous, pat, …
	CreatedAt    time.Time
	LastActiveAt time.Time
	ExpiresAt    time.Time
	RevokedAt    *time.Time
	RevokeReason string
	UserAgent    string
	IP           string `gorm:"column:ip"`
	// APITokenID is the API token the session was opened with (a personal access token's
	// sign-in), nil for every other way in. Revoking the token ends the session.
	APITokenID *uuid.UUID `gorm:"column:api_token_id"`
}

// TableName is the sessions table.
func (Session) TableName() string { return "sessions" }

// RefreshToken is the hash of one refresh token of a session. Rotating tokens (Nhost) are spent
// on use; non-rotating ones (WME) stay valid until they expire or their session ends.
type RefreshToken struct {
	ID        uuid.UUID
	SessionID uuid.UUID
	TokenHash []byte `json:"-"`
	// Successor is the token that replaced this one, sealed under a key derived from this
	// token's plaintext: only a holder of this token can read it (for the reuse leeway).
	Successor []byte `json:"-"`
	Rotates   bool
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// TableName is the refresh_tokens table.
func (RefreshToken) TableName() string { return "refresh_tokens" }

// API token kinds.
const (
	APITokenPAT   = "pat"   // a Nhost personal access token: acts as its user
	APITokenZesty = "zesty" // a Zesty access token: acts as its role on the role's instance, as no user
)

// APIToken is a long-lived, named token stored as a hash: a Nhost personal access token (with a
// user) or a Zesty access token (with a role, and so an instance, and no user).
type APIToken struct {
	ID         uuid.UUID
	Kind       string
	UserID     *uuid.UUID
	Name       string
	TokenHash  []byte `json:"-"`
	Metadata   JSONMap
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	ZUID       *string    `gorm:"column:zuid"`
	RoleID     *uuid.UUID // the instance role a Zesty access token acts as
	CreatedBy  *uuid.UUID // the user who created the token
}

// TableName is the api_tokens table.
func (APIToken) TableName() string { return "api_tokens" }

// SigningKey is a private key that signs access tokens, as PKCS #8 DER.
type SigningKey struct {
	KID        string `gorm:"column:kid;primaryKey"`
	Alg        string
	PrivateKey []byte `json:"-"`
	CreatedAt  time.Time
}

// TableName is the signing_keys table.
func (SigningKey) TableName() string { return "signing_keys" }

// Audit outcomes.
// Session token kinds.
const (
	SessionTokenZesty = "zesty"
	SessionTokenAZ    = "az" // Authentication Zero's X-Session-Token
)

// Zesty system roles, from most to least powerful. Every instance has one role of each; a custom
// role grants what its system role grants.
const (
	SystemRoleOwner       = "owner"
	SystemRoleAdmin       = "admin"
	SystemRoleDeveloper   = "developer"
	SystemRoleSEO         = "seo"
	SystemRolePublisher   = "publisher"
	SystemRoleContributor = "contributor"
)

// Instance is a tenant that roles are scoped to (a Zesty instance).
type Instance struct {
	ID        int64  `gorm:"primaryKey;autoIncrement"`
	ZUID      string `gorm:"column:zuid"`
	Name      string
	CreatedBy *uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (Instance) TableName() string { return "instances" }

func (i *Instance) BeforeSave(*gorm.DB) error {
	utc(&i.CreatedAt, &i.UpdatedAt)
	return nil
}

// InstanceRole is a role on one instance: a built-in system role or a custom role based on one.
type InstanceRole struct {
	ID          uuid.UUID
	ZUID        string `gorm:"column:zuid"`
	InstanceID  int64
	Name        string
	SystemRole  string // one of the SystemRole* names: what this role grants
	Custom      bool
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (InstanceRole) TableName() string { return "instance_roles" }

func (r *InstanceRole) BeforeSave(*gorm.DB) error {
	utc(&r.CreatedAt, &r.UpdatedAt)
	return nil
}

// InstanceMember gives a user one role on an instance.
type InstanceMember struct {
	InstanceID int64     `gorm:"primaryKey"`
	UserID     uuid.UUID `gorm:"primaryKey"`
	RoleID     uuid.UUID
	CreatedAt  time.Time
}

func (InstanceMember) TableName() string { return "instance_members" }

func (m *InstanceMember) BeforeSave(*gorm.DB) error {
	utc(&m.CreatedAt)
	return nil
}

// SessionToken is an opaque credential that is the session itself to its client: each use moves
// its expiry forward by its dialect's idle time.
type SessionToken struct {
	ID         uuid.UUID
	SessionID  uuid.UUID
	Kind       string
	TokenHash  []byte `json:"-"`
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
}

func (SessionToken) TableName() string { return "session_tokens" }

func (t *SessionToken) BeforeSave(*gorm.DB) error {
	utc(&t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt)
	return nil
}

// Ticket kinds: what a mailed ticket or code lets its holder do.
const (
	TicketEmailVerify        = "emailVerify"
	TicketEmailConfirmChange = "emailConfirmChange"
	TicketSignInPasswordless = "signinPasswordless"
	TicketPasswordReset      = "passwordReset"
	TicketSignInOTP          = "signinOTP"
	TicketNewPassword        = "newPasswordChallenge" // a sign-in held until a new password is set
)

// Ticket is a single-use, expiring secret mailed to a user: a link's ticket and/or a short code.
// Email is where it was mailed (for an address change, the new address).
type Ticket struct {
	ID         uuid.UUID
	Kind       string
	UserID     uuid.UUID
	Email      string
	EmailLower string
	TokenHash  []byte `json:"-"` // SHA-256 of the link's ticket; nil for a code without a link
	CodeHash   []byte `json:"-"` // SHA-256 of the ticket id and the short code; nil for no code
	RedirectTo string
	// CodeChallenge is the PKCE challenge of the request that mailed the link: following it
	// yields a one-time code for POST /v1/token/exchange instead of a session.
	CodeChallenge string
	Attempts      int
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time
}

func (Ticket) TableName() string { return "tickets" }

// OutboxMail is one message waiting for delivery, or the record of one that left or was given
// up. Its bodies are cleared once it is settled either way: they carry one-time links and codes.
type OutboxMail struct {
	ID            uuid.UUID
	Kind          string
	Recipient     string
	Subject       string
	TextBody      *string `json:"-"`
	HTMLBody      *string `gorm:"column:html_body" json:"-"`
	RequestID     string
	CreatedAt     time.Time
	ExpiresAt     time.Time // delivering after this is pointless: what it carries has expired
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	SentAt        *time.Time
	FailedAt      *time.Time
}

func (OutboxMail) TableName() string { return "mail_outbox" }

const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// AuditEvent records who did what, when, from where, and how it ended.
type AuditEvent struct {
	ID             uuid.UUID
	At             time.Time
	Action         string
	Outcome        string
	ActorUserID    *uuid.UUID
	ActorTokenName string
	TargetUserID   *uuid.UUID
	SessionID      *uuid.UUID
	IP             string `gorm:"column:ip"`
	UserAgent      string
	RequestID      string
	Detail         JSONMap
}

// TableName is the audit_events table.
func (AuditEvent) TableName() string { return "audit_events" }

// SQLite compares times as text, which orders instants only when every value is in one zone.
// The store's own clock is UTC; these hooks bring the times callers set (from a server clock in
// the host's zone, say) to UTC before a row is written, so an expiry written as 06:00-05:00 is
// not taken for earlier than 10:30Z. PostgreSQL compares instants, and gets the same values.

// BeforeSave stores the user's times in UTC.
func (u *User) BeforeSave(*gorm.DB) error {
	utc(&u.CreatedAt, &u.UpdatedAt)
	u.LastSeenAt = utcPtr(u.LastSeenAt)
	return nil
}

// BeforeSave stores the session's times in UTC.
func (s *Session) BeforeSave(*gorm.DB) error {
	utc(&s.CreatedAt, &s.LastActiveAt, &s.ExpiresAt)
	s.RevokedAt = utcPtr(s.RevokedAt)
	return nil
}

// BeforeSave stores the refresh token's times in UTC.
func (rt *RefreshToken) BeforeSave(*gorm.DB) error {
	utc(&rt.CreatedAt, &rt.ExpiresAt)
	rt.UsedAt = utcPtr(rt.UsedAt)
	return nil
}

// BeforeSave stores the API token's times in UTC.
func (t *APIToken) BeforeSave(*gorm.DB) error {
	utc(&t.CreatedAt, &t.ExpiresAt)
	t.LastUsedAt, t.RevokedAt = utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt)
	return nil
}

// BeforeSave stores the signing key's time in UTC.
func (k *SigningKey) BeforeSave(*gorm.DB) error {
	utc(&k.CreatedAt)
	return nil
}

// BeforeSave stores the audit event's time in UTC.
func (e *AuditEvent) BeforeSave(*gorm.DB) error {
	utc(&e.At)
	return nil
}

func (t *Ticket) BeforeSave(*gorm.DB) error {
	utc(&t.CreatedAt, &t.ExpiresAt)
	t.UsedAt = utcPtr(t.UsedAt)
	return nil
}

func (m *OutboxMail) BeforeSave(*gorm.DB) error {
	utc(&m.CreatedAt, &m.ExpiresAt, &m.NextAttemptAt)
	m.SentAt, m.FailedAt = utcPtr(m.SentAt), utcPtr(m.FailedAt)
	return nil
}

// utc moves each time to UTC in place, at microsecond precision: PostgreSQL keeps microseconds,
// and SQLite, which would keep nanoseconds, must compare as it does (an expiry a few nanoseconds
// past the store's microsecond clock would otherwise outlive its instant). Zero times stay zero,
// for GORM to stamp.
func utc(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC().Truncate(time.Microsecond)
	}
}

// utcPtr is t in UTC, as a new pointer so that the caller's time is left as it was.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// JSONMap is a JSON object column: jsonb on PostgreSQL, TEXT on SQLite. A nil map is stored as {}.
type JSONMap map[string]any

// Value encodes the map as JSON text.
func (m JSONMap) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]any(m))
	if err != nil {
		return nil, fmt.Errorf("encode JSON column: %w", err)
	}
	return string(b), nil
}

// Scan decodes JSON text or bytes.
func (m *JSONMap) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*m = JSONMap{}
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("scan JSON column: unexpected %T", src)
	}
	out := JSONMap{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decode JSON column: %w", err)
	}
	*m = out
	return nil
}

// MFATicket is a sign-in waiting for its second factor: the first factor passed, and the ticket
// (stored as its SHA-256) is what the client presents with the TOTP code. Method is how the
// session it opens will be recorded (the first factor's).
type MFATicket struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	TokenHash []byte `json:"-"`
	Method    string
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// TableName is the mfa_tickets table.
func (MFATicket) TableName() string { return "mfa_tickets" }

// RecoveryCode is one of a user's one-time TOTP recovery codes, stored as a salted SHA-256.
type RecoveryCode struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	CodeHash  []byte `json:"-"`
	CreatedAt time.Time
	UsedAt    *time.Time
}

// TableName is the recovery_codes table.
func (RecoveryCode) TableName() string { return "recovery_codes" }
