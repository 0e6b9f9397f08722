package store

import (
	"errors"
	"fmt"
	"strings"

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
	"users_email_key":                     "email",
	"users.email_lower":                   "email",
	"users_username_key":                  "username",
	"users.username":                      "username",
	"users_zuid_key":                      "zuid",
	"users.zuid":                          "zuid",
	"user_roles_pkey":                     "role",
	"user_roles.user_id, user_roles.role": "role",
	"refresh_tokens_token_hash_key":       "token",
	"refresh_tokens.token_hash":           "token",
	"api_tokens_token_hash_key":           "token",
	"api_tokens.token_hash":               "token",
	"tickets_token_hash_key":              "token",
	"session_tokens_token_hash_key":       "token",
	"session_tokens.token_hash":           "token",
	"tickets.token_hash":                  "token",
	"signing_keys_pkey":                   "kid",
	"signing_keys.kid":                    "kid",
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
