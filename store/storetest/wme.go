package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contract of what the Wikimedia Enterprise dialect adds to the store: log-in by username or
// address, non-rotating refresh tokens, usernames and the "new password required" flag.
// Registered in contracts() as "contract=wme".

// ---- UserByLogin

func wmeUserByLogin(t *testing.T, e *env) {
	alice := e.newUser(func(u *store.User) { u.Email = ptr("Alice.Smith@Example.com"); u.Username = nil })
	must(t, "CreateUser", e.st.CreateUser(e.ctx, alice, []string{"user", "editor"}))
	must(t, "SetUsername", e.st.SetUsername(e.ctx, alice.ID, "Alice"))
	e.user(func(u *store.User) { u.Email = ptr("bob@example.com"); u.Username = ptr("bob") })
	want := *e.userByID(alice.ID)
	want.Roles = []string{"editor", "user"} // loaded, sorted

	for _, tc := range []struct {
		login string
		want  error
	}{
		{"alice", nil},
		{"Alice", nil},
		{"ALICE", nil},
		{"  alice\t", nil},
		{"alice.smith@example.com", nil},
		{"Alice.Smith@Example.com", nil},
		{"ALICE.SMITH@EXAMPLE.COM", nil},
		{"alic", store.ErrNotFound},
		{"alice.smith", store.ErrNotFound},
		{"alice@example.com", store.ErrNotFound},
		{"", store.ErrNotFound},
		{"nobody", store.ErrNotFound},
	} {
		got, err := e.st.UserByLogin(e.ctx, tc.login)
		op := fmt.Sprintf("UserByLogin(%q)", tc.login)
		wantErr(t, op, err, tc.want)
		switch {
		case tc.want != nil && got != nil:
			t.Errorf("%s = user %s, want nil", op, got.ID)
		case tc.want == nil && err == nil:
			wantEqual(t, op, got, &want)
		}
	}
}

// A login that is one user's username and another user's address names the first, whichever was
// created first.
func wmeUserByLoginUsernameWins(t *testing.T, e *env) {
	for _, usernameFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("username-created-first=%t", usernameFirst), func(t *testing.T) {
			e := e.with(t)
			n := e.next()
			login := fmt.Sprintf("shared%d@example.com", n)
			byName := e.newUser(func(u *store.User) { u.Username = nil })
			byAddress := e.newUser(func(u *store.User) { u.Email = ptr(fmt.Sprintf("Shared%d@Example.com", n)) })
			first, second := byAddress, byName
			if usernameFirst {
				first, second = byName, byAddress
			}
			must(t, "CreateUser", e.st.CreateUser(e.ctx, first, []string{"user"}))
			must(t, "CreateUser", e.st.CreateUser(e.ctx, second, []string{"user"}))
			must(t, "SetUsername", e.st.SetUsername(e.ctx, byName.ID, login))

			for _, l := range []string{login, fmt.Sprintf("SHARED%d@EXAMPLE.COM", n)} {
				got, err := e.st.UserByLogin(e.ctx, l)
				must(t, fmt.Sprintf("UserByLogin(%q)", l), err)
				if got.ID != byName.ID {
					t.Errorf("UserByLogin(%q) = user %s (the address's owner is %s), want %s (the username's)", l, got.ID, byAddress.ID, byName.ID)
				}
			}
			// The address's owner is still found by its own username.
			got, err := e.st.UserByLogin(e.ctx, *byAddress.Username)
			must(t, "UserByLogin(own username)", err)
			if got.ID != byAddress.ID {
				t.Errorf("UserByLogin(%q) = user %s, want %s", *byAddress.Username, got.ID, byAddress.ID)
			}
		})
	}
}

func wmeUserByLoginNoRoles(t *testing.T, e *env) {
	u := e.newUser()
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, nil))
	got, err := e.st.UserByLogin(e.ctx, *u.Username)
	must(t, "UserByLogin", err)
	if len(got.Roles) != 0 {
		t.Errorf("UserByLogin of a user without roles: Roles = %q, want none", got.Roles)
	}
}

// ---- ReusableRefreshToken

func wmeReusableRefreshToken(t *testing.T, e *env) {
	u := e.newUser(func(u *store.User) { u.DisplayName = "Owner"; u.Metadata = metadata() })
	must(t, "CreateUser", e.st.CreateUser(e.ctx, u, []string{"user", "admin"}))
	other := e.user()
	e.refreshToken(e.session(other.ID, time.Hour).ID, false, time.Hour)
	s := e.session(u.ID, 90*24*time.Hour)
	rt := e.refreshToken(s.ID, false, 90*24*time.Hour)
	e.clock.Advance(2 * time.Minute)
	tokenBefore, sessionBefore, countsBefore := e.refreshByHash(rt.TokenHash), e.sessionByID(s.ID), e.rowCounts()

	want := *u
	want.Roles = []string{"admin", "user"}
	// Reusable: the same token works again and again, and using it changes nothing.
	for i := range 3 {
		got, sid, err := e.st.ReusableRefreshToken(e.ctx, rt.TokenHash)
		op := fmt.Sprintf("ReusableRefreshToken (use %d)", i+1)
		must(t, op, err)
		if sid != s.ID {
			t.Errorf("%s: session = %s, want %s", op, sid, s.ID)
		}
		wantEqual(t, op, got, &want)
		e.clock.Advance(24 * time.Hour)
	}
	wantEqual(t, "token after ReusableRefreshToken", e.refreshByHash(rt.TokenHash), tokenBefore)
	wantEqual(t, "session after ReusableRefreshToken", e.sessionByID(s.ID), sessionBefore)
	if after := e.rowCounts(); !reflect.DeepEqual(after, countsBefore) {
		t.Errorf("rows after ReusableRefreshToken = %v, want %v", after, countsBefore)
	}
}

func wmeReusableRefreshTokenRefused(t *testing.T, e *env) {
	u := e.user()
	live := e.session(u.ID, 24*time.Hour)
	e.refreshToken(live.ID, false, 24*time.Hour) // a good token beside the bad ones
	rotating := e.refreshToken(live.ID, true, 24*time.Hour)
	spent := &store.RefreshToken{ID: uuid.New(), SessionID: live.ID, TokenHash: randomBytes(32),
		ExpiresAt: e.now().Add(24 * time.Hour), UsedAt: ptr(e.now())}
	must(t, "CreateRefreshToken(spent)", e.st.CreateRefreshToken(e.ctx, spent))
	expiring := e.refreshToken(live.ID, false, time.Hour)
	revoked := e.session(u.ID, 24*time.Hour)
	ofRevoked := e.refreshToken(revoked.ID, false, 24*time.Hour)
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, revoked.ID, "test"))
	short := e.session(u.ID, time.Hour)
	ofExpiredSession := e.refreshToken(short.ID, false, 24*time.Hour) // outlives its session
	// Exactly the expiry of expiring and of short: expires_at > now no longer holds.
	e.clock.Advance(time.Hour)

	for _, tc := range []struct {
		name string
		hash []byte
	}{
		{"rotating-token", rotating.TokenHash},
		{"spent-token", spent.TokenHash},
		{"expired-token", expiring.TokenHash},
		{"revoked-session", ofRevoked.TokenHash},
		{"expired-session", ofExpiredSession.TokenHash},
		{"unknown-hash", randomBytes(32)},
		{"empty-hash", []byte{}},
	} {
		got, sid, err := e.st.ReusableRefreshToken(e.ctx, tc.hash)
		wantErr(t, "ReusableRefreshToken "+tc.name, err, store.ErrNotFound)
		if got != nil || sid != uuid.Nil {
			t.Errorf("ReusableRefreshToken %s = (user %v, session %s), want (nil, %s)", tc.name, got != nil, sid, uuid.Nil)
		}
	}
}

func wmeReusableRefreshTokenExpiryBoundary(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, 2*time.Hour)
	rt := e.refreshToken(s.ID, false, time.Hour)
	e.clock.Advance(time.Hour - time.Microsecond)
	must(t, "ReusableRefreshToken a microsecond before expiry", errOnly3(e.st.ReusableRefreshToken(e.ctx, rt.TokenHash)))
	e.clock.Advance(time.Microsecond)
	wantErr(t, "ReusableRefreshToken at expiry", errOnly3(e.st.ReusableRefreshToken(e.ctx, rt.TokenHash)), store.ErrNotFound)
}

func wmeReusableRefreshTokenDisabledUser(t *testing.T, e *env) {
	u := e.user()
	s := e.session(u.ID, time.Hour)
	rt := e.refreshToken(s.ID, false, time.Hour)
	must(t, "SetUserDisabled", e.st.SetUserDisabled(e.ctx, u.ID, true))
	got, sid, err := e.st.ReusableRefreshToken(e.ctx, rt.TokenHash)
	wantErr(t, "ReusableRefreshToken of a disabled user", err, store.ErrUserDisabled)
	if got != nil || sid != uuid.Nil {
		t.Errorf("ReusableRefreshToken of a disabled user = (user %v, session %s), want (nil, %s)", got != nil, sid, uuid.Nil)
	}
	// A dead token of a disabled user is just not found: the token is judged first.
	must(t, "RevokeSession", e.st.RevokeSession(e.ctx, s.ID, "test"))
	wantErr(t, "ReusableRefreshToken of a disabled user's revoked session", errOnly3(e.st.ReusableRefreshToken(e.ctx, rt.TokenHash)), store.ErrNotFound)
	// Enabled again, a live token works again.
	must(t, "SetUserDisabled(false)", e.st.SetUserDisabled(e.ctx, u.ID, false))
	live := e.refreshToken(e.session(u.ID, time.Hour).ID, false, time.Hour)
	must(t, "ReusableRefreshToken after re-enabling", errOnly3(e.st.ReusableRefreshToken(e.ctx, live.TokenHash)))
}

// ---- SetUsername

func wmeSetUsername(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.Username = nil })
	other := e.user()
	e.clock.Advance(time.Hour)
	must(t, "SetUsername", e.st.SetUsername(e.ctx, u.ID, "  Mixed.Case_Name "))
	want := *u
	want.Username = ptr("mixed.case_name")
	want.UpdatedAt = e.now()
	wantEqual(t, "user after SetUsername", e.userByID(u.ID), &want)
	wantEqual(t, "another user after SetUsername", e.userByID(other.ID), other)

	// Renaming works, and frees the old name.
	e.clock.Advance(time.Minute)
	must(t, "SetUsername(rename)", e.st.SetUsername(e.ctx, u.ID, "Renamed"))
	if got := e.userByID(u.ID); got.Username == nil || *got.Username != "renamed" || !got.UpdatedAt.Equal(e.now()) {
		t.Errorf("after rename: Username = %s, UpdatedAt = %s; want \"renamed\", %s", show(got.Username), got.UpdatedAt.Format(timeFormat), e.now().Format(timeFormat))
	}
	must(t, "SetUsername(the freed name, another user)", e.st.SetUsername(e.ctx, other.ID, "MIXED.CASE_NAME"))
	// Setting a user's own name again is no conflict.
	must(t, "SetUsername(own name again)", e.st.SetUsername(e.ctx, u.ID, "renamed"))
}

func wmeSetUsernameTaken(t *testing.T, e *env) {
	owner := e.user(func(u *store.User) { u.Username = ptr("taken") })
	u := e.user()
	before := *e.userByID(u.ID)
	for _, name := range []string{"taken", "TAKEN", " Taken "} {
		wantConflict(t, fmt.Sprintf("SetUsername(%q)", name), e.st.SetUsername(e.ctx, u.ID, name), "username")
	}
	wantEqual(t, "user after refused SetUsername", e.userByID(u.ID), &before)
	if got := e.userByID(owner.ID); got.Username == nil || *got.Username != "taken" {
		t.Errorf("owner's username = %s, want \"taken\"", show(got.Username))
	}
	// In a transaction the conflict surfaces the same way and rolls back.
	err := e.st.Tx(e.ctx, func(tx *store.Store) error { return tx.SetUsername(e.ctx, u.ID, "Taken") })
	wantConflict(t, "SetUsername in a transaction", err, "username")
}

func wmeSetUsernameUnknown(t *testing.T, e *env) {
	e.user()
	before := e.rowCounts()
	wantErr(t, "SetUsername(unknown)", e.st.SetUsername(e.ctx, uuid.New(), "ghost"), store.ErrNotFound)
	if after := e.rowCounts(); !reflect.DeepEqual(after, before) {
		t.Errorf("rows after SetUsername(unknown) = %v, want %v", after, before)
	}
}

// ---- SetNewPasswordRequired

func wmeSetNewPasswordRequired(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.PasswordHash = ptr("old") })
	other := e.user()
	for _, required := range []bool{true, true, false, false, true} {
		e.clock.Advance(time.Minute)
		must(t, fmt.Sprintf("SetNewPasswordRequired(%t)", required), e.st.SetNewPasswordRequired(e.ctx, u.ID, required))
		want := *e.userByID(u.ID) // compared field by field below
		if want.NewPasswordRequired != required || !want.UpdatedAt.Equal(e.now()) {
			t.Errorf("after SetNewPasswordRequired(%t): NewPasswordRequired = %t, UpdatedAt = %s; want %t, %s",
				required, want.NewPasswordRequired, want.UpdatedAt.Format(timeFormat), required, e.now().Format(timeFormat))
		}
		// The flag reaches the log-in lookup.
		if got := mustValue(e.st.UserByLogin(e.ctx, *u.Username))(t, "UserByLogin"); got.NewPasswordRequired != required {
			t.Errorf("UserByLogin after SetNewPasswordRequired(%t): NewPasswordRequired = %t", required, got.NewPasswordRequired)
		}
	}
	got := e.userByID(u.ID)
	want := *u
	want.NewPasswordRequired, want.UpdatedAt = true, e.now()
	wantEqual(t, "user after SetNewPasswordRequired", got, &want)
	wantEqual(t, "another user after SetNewPasswordRequired", e.userByID(other.ID), other)

	// A new password clears the flag.
	e.clock.Advance(time.Minute)
	must(t, "SetPasswordHash", e.st.SetPasswordHash(e.ctx, u.ID, "new"))
	want.PasswordHash, want.NewPasswordRequired, want.UpdatedAt = ptr("new"), false, e.now()
	wantEqual(t, "user after SetPasswordHash", e.userByID(u.ID), &want)
}

func wmeSetNewPasswordRequiredUnknown(t *testing.T, e *env) {
	e.user()
	for _, required := range []bool{true, false} {
		wantErr(t, fmt.Sprintf("SetNewPasswordRequired(unknown, %t)", required),
			e.st.SetNewPasswordRequired(e.ctx, uuid.New(), required), store.ErrNotFound)
	}
}

func errOnly3[A, B any](_ A, _ B, err error) error { return err }
