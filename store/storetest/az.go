package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of the Authentication Zero queries: a user's live sessions newest first, one
// session of its owner only, a reset ticket checked without spending it, an address changed to
// an unverified one, and a session slid only when its activity is stale. Registered in
// contracts() as "contract=az".

func azCases() []testCase {
	return []testCase{
		{"user-live-sessions-newest-first", azLiveSessions},
		{"user-live-session-owner-only", azLiveSession},
		{"usable-ticket-not-spent", azUsableTicket},
		{"set-unverified-email", azSetUnverifiedEmail},
		{"slide-session-after-gap", azSlideSession},
	}
}

func azLiveSessions(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	first := e.session(u.ID, time.Hour)
	e.clock.Advance(time.Second)
	second := e.session(u.ID, time.Hour)
	e.clock.Advance(time.Second)
	revoked := e.session(u.ID, time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "test"))
	e.session(u.ID, time.Second) // expires before the listing
	e.session(other.ID, time.Hour)
	e.clock.Advance(2 * time.Second)
	list, err := e.st.UserLiveSessions(e.ctx, u.ID)
	must(t, "UserLiveSessions", err)
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
		t.Fatalf("UserLiveSessions = %v, want %s then %s", list, second.ID, first.ID)
	}
	if list[0].UserID != u.ID || !list[0].CreatedAt.Equal(second.CreatedAt) {
		t.Fatalf("UserLiveSessions row = %+v, want %+v", list[0], second)
	}
	none, err := e.st.UserLiveSessions(e.ctx, uuid.New())
	must(t, "UserLiveSessions (unknown user)", err)
	if none == nil || len(none) != 0 {
		t.Fatalf("UserLiveSessions of an unknown user = %#v, want an empty list", none)
	}
}

func azLiveSession(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	s := e.session(u.ID, time.Hour)
	got, err := e.st.UserLiveSession(e.ctx, u.ID, s.ID)
	must(t, "UserLiveSession", err)
	if got.ID != s.ID || got.UserID != u.ID {
		t.Fatalf("UserLiveSession = %+v", got)
	}
	if _, err := e.st.UserLiveSession(e.ctx, other.ID, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another user's session: %v, want ErrNotFound", err)
	}
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "test"))
	if _, err := e.st.UserLiveSession(e.ctx, u.ID, s.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked session: %v, want ErrNotFound", err)
	}
}

func azUsableTicket(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketPasswordReset, time.Hour)
	for range 2 { // checking spends nothing
		got, err := e.st.UsableTicket(e.ctx, tk.TokenHash, store.TicketPasswordReset)
		must(t, "UsableTicket", err)
		if got.ID != tk.ID || got.UserID != u.ID || got.UsedAt != nil {
			t.Fatalf("UsableTicket = %+v", got)
		}
	}
	if _, err := e.st.UsableTicket(e.ctx, tk.TokenHash, store.TicketEmailVerify); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other kind: %v, want ErrNotFound", err)
	}
	_, err := e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketPasswordReset)
	must(t, "SpendTicket", err)
	if _, err := e.st.UsableTicket(e.ctx, tk.TokenHash, store.TicketPasswordReset); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("spent: %v, want ErrNotFound", err)
	}
	late := e.ticket(u, store.TicketEmailVerify, time.Minute)
	e.clock.Advance(time.Minute)
	if _, err := e.st.UsableTicket(e.ctx, late.TokenHash, store.TicketEmailVerify); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired: %v, want ErrNotFound", err)
	}
}

func azSetUnverifiedEmail(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.EmailVerified = true })
	taken := e.user()
	e.clock.Advance(time.Minute)
	must(t, "SetUnverifiedEmail", e.st.SetUnverifiedEmail(e.ctx, u.ID, "New.Address@Example.com"))
	got := e.userByID(u.ID)
	if *got.Email != "New.Address@Example.com" || *got.EmailLower != "new.address@example.com" || got.EmailVerified || !got.UpdatedAt.Equal(e.now()) {
		t.Fatalf("after SetUnverifiedEmail: %+v", got)
	}
	var ce *store.ConflictError
	if err := e.st.SetUnverifiedEmail(e.ctx, u.ID, *taken.Email); !errors.As(err, &ce) || ce.Field != "email" {
		t.Fatalf("taken address: %v, want ConflictError{email}", err)
	}
	if err := e.st.SetUnverifiedEmail(e.ctx, uuid.New(), "x@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
}

func azSlideSession(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	e.clock.Advance(30 * time.Second)
	must(t, "SlideSession", e.st.SlideSession(e.ctx, s.ID, e.now().Add(2*time.Hour), time.Minute))
	if got := e.sessionByID(s.ID); !got.LastActiveAt.Equal(s.LastActiveAt) || !got.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("slid within the gap: %+v", got)
	}
	e.clock.Advance(time.Minute)
	want := e.now().Add(2 * time.Hour)
	must(t, "SlideSession", e.st.SlideSession(e.ctx, s.ID, want, time.Minute))
	if got := e.sessionByID(s.ID); !got.LastActiveAt.Equal(e.now()) || !got.ExpiresAt.Equal(want) {
		t.Fatalf("not slid after the gap: %+v", got)
	}
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "test"))
	e.clock.Advance(time.Hour)
	must(t, "SlideSession (revoked)", e.st.SlideSession(e.ctx, s.ID, e.now().Add(time.Hour), time.Minute))
	if got := e.sessionByID(s.ID); got.LastActiveAt.Equal(e.now()) {
		t.Fatalf("a revoked session slid: %+v", got)
	}
}
