package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Errors the store reports; callers match them with errors.Is / errors.As.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyUsed: a single-use secret was spent before.
	ErrAlreadyUsed = errors.New("already used")
	// ErrExpired: the secret or session exists but its time is up.
	ErrExpired = errors.New("expired")
	// ErrUserDisabled: the user the secret belongs to is disabled.
	ErrUserDisabled = errors.New("user disabled")
)

// ConflictError reports a unique key that a write collided with. Field names the colliding
// value in the core's words ("email", "username", …), not the database's.
type ConflictError struct {
	Field string
}

func (e *ConflictError) Error() string { return fmt.Sprintf("%s already in use", e.Field) }

// uniqueFields maps our constraint names (set in the migrations) to the field they protect.
// PostgreSQL reports the constraint name; SQLite reports "table.column", listed beside it.
var uniqueFields = map[string]string{
	"users_email_key":                                           "email",
	"users.email_lower":                                         "email",
	"users_username_key":                                        "username",
	"users.username":                                            "username",
	"users_zuid_key":                                            "zuid",
	"users.zuid":                                                "zuid",
	"user_roles_pkey":                                           "role",
	"user_roles.user_id, user_roles.role":                       "role",
	"refresh_tokens_token_hash_key":                             "token",
	"refresh_tokens.token_hash":                                 "token",
	"api_tokens_token_hash_key":                                 "token",
	"api_tokens.token_hash":                                     "token",
	"tickets_token_hash_key":                                    "token",
	"session_tokens_token_hash_key":                             "token",
	"session_tokens.token_hash":                                 "token",
	"tickets.token_hash":                                        "token",
	"signing_keys_pkey":                                         "kid",
	"signing_keys.kid":                                          "kid",
	"webauthn_credentials_credential_id_key":                    "credential",
	"webauthn_credentials.credential_id":                        "credential",
	"webauthn_ceremonies_challenge_hash_key":                    "challenge",
	"webauthn_ceremonies.challenge_hash":                        "challenge",
	"provider_identities_provider_subject_key":                  "identity",
	"provider_identities.provider, provider_identities.subject": "identity",
}

// translate turns driver errors into the store's errors. It is the only place that reads
// driver-specific error shapes.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		if f, ok := uniqueFields[pgErr.ConstraintName]; ok {
			return &ConflictError{Field: f}
		}
		return &ConflictError{Field: pgErr.ConstraintName}
	}
	// SQLite: "constraint failed: UNIQUE constraint failed: users.email_lower (2067)".
	msg := err.Error()
	if i := strings.Index(msg, "UNIQUE constraint failed: "); i >= 0 {
		cols := msg[i+len("UNIQUE constraint failed: "):]
		if j := strings.Index(cols, " ("); j >= 0 {
			cols = cols[:j]
		}
		if f, ok := uniqueFields[cols]; ok {
			return &ConflictError{Field: f}
		}
		return &ConflictError{Field: cols}
	}
	return err
}

// IsUnavailable reports whether err says the database could not be reached or could not serve
// the call now, rather than that the call itself was wrong: the server answers those with 503
// and Retry-After, and succeeds again once the database is back (database/sql replaces broken
// connections by itself). It is the one place that knows what an outage looks like in each
// driver:
//   - connections that could not be opened (pgconn's ConnectError, refused or timed out dials),
//     or broke mid-exchange (reset, EOF, a closed pipe), and database/sql's ErrBadConn/ErrConnDone;
//   - PostgreSQL refusing service: SQLSTATE class 08 (connection exception), 57P01..57P03
//     (shutting down, cannot connect now), 53300 (too many connections);
//   - a DB call that ran out of its deadline (pgconn reports it as a timeout), or a pool wait
//     that did;
//   - SQLite failing to open or read its file (CANTOPEN, IOERR), a full disk (FULL), or a lock
//     it waited busy_timeout for (BUSY).
//
// A request whose own context was cancelled (the client left) is not an outage.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, errClosed) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code; extended codes (IOERR_READ…) keep it in the low byte
		case sqliteBusy, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
	}
	// A connection that broke under a query: pgconn wraps the read or write error it got.
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// SQLite's primary result codes that IsUnavailable reads (sqlite3.h).
const (
	sqliteBusy     = 5
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)
