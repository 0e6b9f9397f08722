package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// sessionAPITokenVersion is the migration that records on a session the API token it was opened
// with.
const sessionAPITokenVersion = 8

// TestMigrationEndsUnlinkedPATSessions: a session opened with a personal access token before
// sessions recorded their token cannot be ended with that token, so the migration ends it (its
// holder signs in with the token again); every other session lives on, and the revocation reads
// back as a time on both databases.
func TestMigrationEndsUnlinkedPATSessions(t *testing.T) {
	ctx := t.Context()
	clock := testdb.NewClock()
	st := testdb.Open(t, testdb.Options{Now: clock.Now})
	if err := st.MigrateDownTo(ctx, sessionAPITokenVersion-1); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	u := &store.User{ID: uuid.New(), ZUID: "5-legacy", CreatedAt: clock.Now(), UpdatedAt: clock.Now(), Locale: "en",
		DefaultRole: "user", Metadata: store.JSONMap{}}
	if err := st.CreateUser(ctx, u, nil); err != nil {
		t.Fatalf("create user: %v", err)
	}
	// Sessions as the previous version stored them (it had no api_token_id column).
	plant := func(method string, lastActive time.Time) uuid.UUID {
		id := uuid.New()
		if err := st.Exec(ctx, `INSERT INTO sessions (id, user_id, method, created_at, last_active_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, id, u.ID, method, clock.Now().UTC(), lastActive.UTC(), clock.Now().Add(30*24*time.Hour).UTC()); err != nil {
			t.Fatalf("plant a %s session: %v", method, err)
		}
		return id
	}
	active := clock.Now().Add(-time.Minute)
	patSession, pwSession := plant("pat", active), plant("password", active)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}

	got, err := st.SessionByID(ctx, patSession)
	if err != nil {
		t.Fatalf("the PAT session after the migration: %v", err)
	}
	if got.RevokedAt == nil || got.RevokedAt.Before(active) || got.RevokeReason != "api-token-unlinked" || got.APITokenID != nil {
		t.Errorf("the PAT session after the migration: revoked at %v (%q), token %v; want ended, api-token-unlinked",
			got.RevokedAt, got.RevokeReason, got.APITokenID)
	}
	if _, err := st.LiveSessionUser(ctx, patSession); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LiveSessionUser of the PAT session after the migration: %v, want ErrNotFound", err)
	}
	if _, err := st.LiveSessionUser(ctx, pwSession); err != nil {
		t.Errorf("LiveSessionUser of the password session after the migration: %v", err)
	}
	// The purge reads the revocation as a time: an ended session goes once it is old enough.
	clock.Advance(time.Hour)
	if _, err := st.Purge(ctx, clock.Now(), clock.Now()); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := st.SessionByID(ctx, patSession); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the ended PAT session after a purge: %v, want it purged", err)
	}
	if _, err := st.SessionByID(ctx, pwSession); err != nil {
		t.Errorf("the live session after a purge: %v", err)
	}
}
