package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/store"
)

// The contracts of mailed tickets and of the mail outbox, and their race subtests; registered in
// contracts() and Run beside the rest of the suite.

// ticket creates a ticket of kind for u, mailed to u's address, with a link and a code, that
// expires ttl from now. CreateTicket retires u's older unused tickets of kind.
func (e *env) ticket(u *store.User, kind string, ttl time.Duration, mods ...func(*store.Ticket)) *store.Ticket {
	e.t.Helper()
	now := e.now()
	tk := &store.Ticket{
		ID: uuid.New(), Kind: kind, UserID: u.ID, Email: *u.Email,
		TokenHash: randomBytes(32), CodeHash: randomBytes(32),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	for _, m := range mods {
		m(tk)
	}
	must(e.t, "CreateTicket", e.st.CreateTicket(e.ctx, tk))
	return tk
}

// pendingIDs lists the ids PendingCodeTickets returns, in its order.
func (e *env) pendingIDs(email, kind string, maxAttempts int) []uuid.UUID {
	e.t.Helper()
	ts := mustValue(e.st.PendingCodeTickets(e.ctx, email, kind, maxAttempts))(e.t, "PendingCodeTickets")
	ids := make([]uuid.UUID, len(ts))
	for i, tk := range ts {
		ids[i] = tk.ID
	}
	return ids
}

// mail enqueues a message due d from now (negative: overdue), with both bodies, that expires a
// day from now.
func (e *env) mail(d time.Duration, mods ...func(*store.OutboxMail)) *store.OutboxMail {
	e.t.Helper()
	now := e.now()
	n := e.next()
	m := &store.OutboxMail{
		ID: uuid.New(), Kind: "emailVerify", Recipient: fmt.Sprintf("to%d@example.com", n),
		Subject: fmt.Sprintf("message %d", n), TextBody: ptr(fmt.Sprintf("text %d", n)),
		HTMLBody: ptr(fmt.Sprintf("<p>html %d</p>", n)), CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour), NextAttemptAt: now.Add(d),
	}
	for _, mod := range mods {
		mod(m)
	}
	must(e.t, "EnqueueMail", e.st.EnqueueMail(e.ctx, m))
	return m
}

// claim calls ClaimDueMail with a lease of leaseFor from now.
func (e *env) claim(limit int, leaseFor time.Duration) []store.OutboxMail {
	e.t.Helper()
	return mustValue(e.st.ClaimDueMail(e.ctx, limit, e.now().Add(leaseFor)))(e.t, "ClaimDueMail")
}

func (e *env) undelivered(limit int) []store.OutboxMail {
	e.t.Helper()
	return mustValue(e.st.UndeliveredMail(e.ctx, limit))(e.t, "UndeliveredMail")
}

func mailIDs(ms []store.OutboxMail) []uuid.UUID {
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func idsOf(ms ...*store.OutboxMail) []uuid.UUID {
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func sortedIDs(ids []uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// wantIDs compares two id lists in order; nil and empty are the same.
func wantIDs(t *testing.T, what string, got, want []uuid.UUID) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// hashBytes is n bytes running from 0x00 by step: bytes no text encoding survives.
func hashBytes(n, step int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * step)
	}
	return b
}

// ---- contract=round-trip ----

func roundTripTicket(t *testing.T, e *env) {
	u := e.user()
	want := &store.Ticket{
		ID:         uuid.New(),
		Kind:       store.TicketEmailConfirmChange,
		UserID:     u.ID,
		Email:      "Zoë.Ticket+tag@Example.COM",
		TokenHash:  hashBytes(32, 8),
		CodeHash:   []byte{0x00, 0xff, 0x7f, 0x80, 0x00, '\'', '"', '\\', 0x0a},
		RedirectTo: "https://app.example.com/after?x=1&y=ü#frag",
		Attempts:   2,
		CreatedAt:  e.at(-time.Minute),
		ExpiresAt:  e.at(time.Hour),
	}
	in := *want
	must(t, "CreateTicket", e.st.CreateTicket(e.ctx, &in))
	want.EmailLower = "zoë.ticket+tag@example.com"
	if in.EmailLower != want.EmailLower {
		t.Errorf("CreateTicket set EmailLower = %q, want %q", in.EmailLower, want.EmailLower)
	}
	pending := mustValue(e.st.PendingCodeTickets(e.ctx, want.Email, want.Kind, 5))(t, "PendingCodeTickets")
	if len(pending) != 1 {
		t.Fatalf("PendingCodeTickets returned %d tickets, want 1", len(pending))
	}
	wantEqual(t, "PendingCodeTickets", &pending[0], want)
	got := mustValue(e.st.SpendTicket(e.ctx, want.TokenHash, want.Kind))(t, "SpendTicket")
	want.UsedAt = ptr(e.now())
	wantEqual(t, "SpendTicket", got, want)

	// A code without a link (no token hash), and zero values: no redirect, no attempts, the
	// creation time stamped from the clock.
	codeOnly := &store.Ticket{ID: uuid.New(), Kind: store.TicketSignInOTP, UserID: u.ID, Email: *u.Email,
		CodeHash: hashBytes(32, 3), ExpiresAt: e.at(time.Hour)}
	in = *codeOnly
	must(t, "CreateTicket(code only)", e.st.CreateTicket(e.ctx, &in))
	codeOnly.EmailLower, codeOnly.CreatedAt = store.NormalizeEmail(*u.Email), e.now()
	pending = mustValue(e.st.PendingCodeTickets(e.ctx, *u.Email, codeOnly.Kind, 5))(t, "PendingCodeTickets(code only)")
	if len(pending) != 1 {
		t.Fatalf("PendingCodeTickets(code only) returned %d tickets, want 1", len(pending))
	}
	wantEqual(t, "PendingCodeTickets (code only)", &pending[0], codeOnly)

	// A link without a code (no code hash).
	linkOnly := &store.Ticket{ID: uuid.New(), Kind: store.TicketPasswordReset, UserID: u.ID, Email: *u.Email,
		TokenHash: hashBytes(32, 5), CreatedAt: e.at(-time.Second), ExpiresAt: e.at(time.Hour)}
	in = *linkOnly
	must(t, "CreateTicket(link only)", e.st.CreateTicket(e.ctx, &in))
	got = mustValue(e.st.SpendTicket(e.ctx, linkOnly.TokenHash, linkOnly.Kind))(t, "SpendTicket(link only)")
	linkOnly.EmailLower, linkOnly.UsedAt = store.NormalizeEmail(*u.Email), ptr(e.now())
	wantEqual(t, "SpendTicket (link only)", got, linkOnly)
}

func roundTripOutboxMail(t *testing.T, e *env) {
	want := &store.OutboxMail{
		ID:            uuid.New(),
		Kind:          "emailConfirmChange",
		Recipient:     "Zoë O'Brien <zoe+tag@example.com>",
		Subject:       "Confirm \"your\" address ü 🔑",
		TextBody:      ptr("Line one\nLine two: ü 🔑 'single' \"double\" \\ back\r\n"),
		HTMLBody:      ptr("<p>Hello <b>Zoë</b> &amp; \"you\"</p>\n"),
		RequestID:     "req-7f3a",
		CreatedAt:     e.at(-time.Hour),
		ExpiresAt:     e.at(time.Hour),
		Attempts:      2,
		NextAttemptAt: e.at(-2 * time.Minute),
		LastError:     "421 4.7.0 try again later ü",
	}
	in := *want
	must(t, "EnqueueMail", e.st.EnqueueMail(e.ctx, &in))
	// Given up earlier: FailedAt set. No HTML body.
	failedAt := e.at(-time.Second)
	failed := &store.OutboxMail{
		ID: uuid.New(), Kind: "signinOTP", Recipient: "b@example.com", Subject: "code", TextBody: ptr("123456"),
		CreatedAt: e.at(-30 * time.Minute), ExpiresAt: e.at(-time.Minute), Attempts: 5,
		NextAttemptAt: e.at(-10 * time.Minute), LastError: "550 5.1.1 no such user", FailedAt: &failedAt,
	}
	in = *failed
	must(t, "EnqueueMail(given up)", e.st.EnqueueMail(e.ctx, &in))

	// UndeliveredMail leaves the bodies out, newest first.
	list := e.undelivered(10)
	if len(list) != 2 {
		t.Fatalf("UndeliveredMail returned %d messages, want 2", len(list))
	}
	wantEqual(t, "UndeliveredMail[0]", &list[0], withoutBodies(failed))
	wantEqual(t, "UndeliveredMail[1]", &list[1], withoutBodies(want))

	// ClaimDueMail brings everything, the bodies too, with the claim applied.
	lease := e.at(5 * time.Minute)
	claimed := mustValue(e.st.ClaimDueMail(e.ctx, 10, lease))(t, "ClaimDueMail")
	if len(claimed) != 1 {
		t.Fatalf("ClaimDueMail returned %d messages, want 1 (the given-up one is not due)", len(claimed))
	}
	want.Attempts, want.NextAttemptAt = 3, lease
	wantEqual(t, "ClaimDueMail", &claimed[0], want)
	// The claim is stored, not just reported.
	list = e.undelivered(10)
	if len(list) != 2 {
		t.Fatalf("UndeliveredMail after the claim returned %d messages, want 2", len(list))
	}
	wantEqual(t, "UndeliveredMail[1] after the claim", &list[1], withoutBodies(want))

	// Zero values: no HTML body, no request id, no error, the creation time from the clock.
	zero := &store.OutboxMail{ID: uuid.New(), Kind: "k", Recipient: "z@example.com", Subject: "s", TextBody: ptr(""),
		ExpiresAt: e.at(time.Hour), NextAttemptAt: e.at(-time.Hour)}
	in = *zero
	must(t, "EnqueueMail(zero values)", e.st.EnqueueMail(e.ctx, &in))
	claimed = mustValue(e.st.ClaimDueMail(e.ctx, 10, lease))(t, "ClaimDueMail(zero values)")
	if len(claimed) != 1 {
		t.Fatalf("ClaimDueMail(zero values) returned %d messages, want 1", len(claimed))
	}
	zero.CreatedAt, zero.Attempts, zero.NextAttemptAt = e.now(), 1, lease
	wantEqual(t, "ClaimDueMail (zero values)", &claimed[0], zero)
}

// withoutBodies is m as UndeliveredMail lists it.
func withoutBodies(m *store.OutboxMail) *store.OutboxMail {
	c := *m
	c.TextBody, c.HTMLBody = nil, nil
	return &c
}

// ---- contract=tickets ----

func ticketsCreateRetires(t *testing.T, e *env) {
	u, other := e.user(), e.user()
	old := e.ticket(u, store.TicketPasswordReset, time.Hour)
	otherKind := e.ticket(u, store.TicketEmailVerify, time.Hour)
	otherUser := e.ticket(other, store.TicketPasswordReset, time.Hour)
	e.clock.Advance(time.Second)
	newer := e.ticket(u, store.TicketPasswordReset, time.Hour)
	if want := store.NormalizeEmail(*u.Email); newer.EmailLower != want {
		t.Errorf("CreateTicket set EmailLower = %q, want %q", newer.EmailLower, want)
	}

	wantIDs(t, "PendingCodeTickets(u, passwordReset)", e.pendingIDs(*u.Email, store.TicketPasswordReset, 5), []uuid.UUID{newer.ID})
	wantIDs(t, "PendingCodeTickets(u, emailVerify)", e.pendingIDs(*u.Email, store.TicketEmailVerify, 5), []uuid.UUID{otherKind.ID})
	wantIDs(t, "PendingCodeTickets(other user, passwordReset)", e.pendingIDs(*other.Email, store.TicketPasswordReset, 5), []uuid.UUID{otherUser.ID})
	wantErr(t, "SpendTicket(retired)", errOnly(e.st.SpendTicket(e.ctx, old.TokenHash, old.Kind)), store.ErrAlreadyUsed)
	wantErr(t, "SpendTicketByID(retired)", e.st.SpendTicketByID(e.ctx, old.ID), store.ErrAlreadyUsed)
	if ok := mustValue(e.st.TakeTicketAttempt(e.ctx, old.ID, 5))(t, "TakeTicketAttempt(retired)"); ok {
		t.Errorf("TakeTicketAttempt(retired) = true, want false")
	}
	for _, tk := range []*store.Ticket{newer, otherKind, otherUser} {
		wantErr(t, "SpendTicket("+tk.Kind+" not retired)", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)), nil)
	}
	if c := e.rowCounts()["tickets"]; c != 4 {
		t.Errorf("tickets rows = %d, want 4 (retired, not deleted)", c)
	}
}

// ticketsCreateConflict: a ticket whose hash is taken is a conflict on "token", and the failed
// CreateTicket retires nothing: the user's ticket of that kind keeps working.
func ticketsCreateConflict(t *testing.T, e *env, inTx bool) {
	u, other := e.user(), e.user()
	taken := e.ticket(other, store.TicketPasswordReset, time.Hour)
	mine := e.ticket(u, store.TicketPasswordReset, time.Hour)
	e.clock.Advance(time.Second)
	before := e.rowCounts()
	dup := &store.Ticket{ID: uuid.New(), Kind: store.TicketPasswordReset, UserID: u.ID, Email: *u.Email,
		TokenHash: taken.TokenHash, CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour)}
	var err error
	if inTx {
		err = e.st.Tx(e.ctx, func(tx *store.Store) error { return tx.CreateTicket(e.ctx, dup) })
	} else {
		err = e.st.CreateTicket(e.ctx, dup)
	}
	wantConflict(t, "CreateTicket with a taken token hash", err, "token")
	if after := e.rowCounts(); !maps.Equal(before, after) {
		t.Errorf("rows changed by a failed CreateTicket: %v → %v", before, after)
	}
	wantIDs(t, "PendingCodeTickets after a failed CreateTicket", e.pendingIDs(*u.Email, store.TicketPasswordReset, 5), []uuid.UUID{mine.ID})
	wantErr(t, "SpendTicket(the user's ticket, after a failed CreateTicket)", errOnly(e.st.SpendTicket(e.ctx, mine.TokenHash, mine.Kind)), nil)
}

// ticketsWithoutLinkOrCode: a ticket without a link (a one-time sign-in code) has no token hash,
// and any number of them coexist, as NULLs do under a unique key; a ticket without a code is
// never a pending code.
func ticketsWithoutLinkOrCode(t *testing.T, e *env) {
	var codes []*store.Ticket
	for range 3 {
		u := e.user()
		codes = append(codes, e.ticket(u, store.TicketSignInOTP, time.Hour, func(tk *store.Ticket) { tk.TokenHash = nil }))
		wantIDs(t, "PendingCodeTickets(code without a link)", e.pendingIDs(*u.Email, store.TicketSignInOTP, 5), []uuid.UUID{codes[len(codes)-1].ID})
	}
	u := e.user()
	linkOnly := e.ticket(u, store.TicketPasswordReset, time.Hour, func(tk *store.Ticket) { tk.CodeHash = nil })
	wantIDs(t, "PendingCodeTickets(link without a code)", e.pendingIDs(*u.Email, linkOnly.Kind, 5), nil)
	// No hash, or an empty one, is no link: it spends none of the codes.
	for _, hash := range [][]byte{nil, {}} {
		got, err := e.st.SpendTicket(e.ctx, hash, store.TicketSignInOTP)
		wantErr(t, fmt.Sprintf("SpendTicket(%s, signinOTP)", show(hash)), err, store.ErrNotFound)
		if got != nil {
			t.Errorf("SpendTicket(%s, signinOTP) spent ticket %s, want nil", show(hash), got.ID)
		}
	}
	for i, tk := range codes {
		if ok := mustValue(e.st.TakeTicketAttempt(e.ctx, tk.ID, 5))(t, "TakeTicketAttempt"); !ok {
			t.Errorf("TakeTicketAttempt(code %d) = false, want true (unused)", i)
		}
	}
}

// ticketsUnknownUser: a ticket hangs off its user (ON DELETE CASCADE takes it with the user). No
// store method deletes a user, so the cascade itself is not reachable here; the foreign key is.
func ticketsUnknownUser(t *testing.T, e *env) {
	e.user()
	tk := &store.Ticket{ID: uuid.New(), Kind: store.TicketEmailVerify, UserID: uuid.New(), Email: "ghost@example.com",
		TokenHash: randomBytes(32), CreatedAt: e.now(), ExpiresAt: e.now().Add(time.Hour)}
	if err := e.st.CreateTicket(e.ctx, tk); err == nil {
		t.Errorf("CreateTicket for an unknown user: error = nil, want a foreign key violation")
	}
	if c := e.rowCounts()["tickets"]; c != 0 {
		t.Errorf("tickets rows = %d, want 0", c)
	}
}

func ticketsSpend(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketPasswordReset, time.Hour, func(tk *store.Ticket) { tk.RedirectTo = "https://app.example.com/reset" })
	e.ticket(e.user(), store.TicketPasswordReset, time.Hour)
	e.clock.Advance(time.Minute + 3*time.Microsecond)
	// Any of several kinds may be asked for.
	got := mustValue(e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketEmailVerify, store.TicketPasswordReset))(t, "SpendTicket")
	want := *tk
	want.UsedAt = ptr(e.now())
	wantEqual(t, "SpendTicket", got, &want)
	wantIDs(t, "PendingCodeTickets after the link was used (its code goes with it)", e.pendingIDs(*u.Email, tk.Kind, 5), nil)

	e.clock.Advance(time.Second)
	got, err := e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)
	wantErr(t, "second SpendTicket", err, store.ErrAlreadyUsed)
	if got != nil {
		t.Errorf("second SpendTicket = %+v, want nil", got)
	}
	wantErr(t, "SpendTicketByID after SpendTicket", e.st.SpendTicketByID(e.ctx, tk.ID), store.ErrAlreadyUsed)
}

func ticketsSpendExpired(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketSignInPasswordless, time.Hour)
	for _, step := range []struct {
		name    string
		advance time.Duration
	}{
		{"at-expiry", time.Hour},
		{"past-expiry", time.Microsecond},
		{"long-past-expiry", 24 * time.Hour},
	} {
		e.clock.Advance(step.advance)
		got, err := e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)
		wantErr(t, "SpendTicket "+step.name, err, store.ErrExpired)
		if got != nil {
			t.Errorf("SpendTicket %s = %+v, want nil", step.name, got)
		}
	}
	wantIDs(t, "PendingCodeTickets(expired)", e.pendingIDs(*u.Email, tk.Kind, 5), nil)
	if ok := mustValue(e.st.TakeTicketAttempt(e.ctx, tk.ID, 5))(t, "TakeTicketAttempt(expired)"); ok {
		t.Errorf("TakeTicketAttempt(expired) = true, want false")
	}
	wantErr(t, "SpendTicketByID(expired)", e.st.SpendTicketByID(e.ctx, tk.ID), store.ErrAlreadyUsed)
	// Refused spends do not spend it: it is still expired, not used.
	wantErr(t, "SpendTicket after refused spends", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)), store.ErrExpired)
}

func ticketsSpendUnknown(t *testing.T, e *env) {
	tk := e.ticket(e.user(), store.TicketEmailVerify, time.Hour)
	for _, tc := range []struct {
		name string
		hash []byte
	}{
		{"unknown-hash", randomBytes(32)},
		{"hash-prefix", tk.TokenHash[:31]},
	} {
		got, err := e.st.SpendTicket(e.ctx, tc.hash, tk.Kind)
		wantErr(t, "SpendTicket("+tc.name+")", err, store.ErrNotFound)
		if got != nil {
			t.Errorf("SpendTicket(%s) = %+v, want nil", tc.name, got)
		}
	}
	wantErr(t, "SpendTicket(the real one)", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)), nil)
}

// ticketsSpendWrongKind: a ticket presented as another kind is ErrNotFound and is not spent.
func ticketsSpendWrongKind(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketPasswordReset, time.Hour)
	wantErr(t, "SpendTicket(as emailVerify)", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketEmailVerify)), store.ErrNotFound)
	wantErr(t, "SpendTicket(as signinPasswordless or emailVerify)",
		errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketSignInPasswordless, store.TicketEmailVerify)), store.ErrNotFound)
	wantErr(t, "SpendTicket(no kinds)", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash)), store.ErrNotFound)
	wantIDs(t, "PendingCodeTickets after wrong-kind spends", e.pendingIDs(*u.Email, tk.Kind, 5), []uuid.UUID{tk.ID})
	got := mustValue(e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketPasswordReset))(t, "SpendTicket(right kind)")
	if got.ID != tk.ID || got.UsedAt == nil || !got.UsedAt.Equal(e.now()) {
		t.Errorf("SpendTicket(right kind) = ticket %s used %s, want %s used %s", got.ID, show(got.UsedAt), tk.ID, e.now().Format(timeFormat))
	}
	// Once spent, another kind is still ErrNotFound, not ErrAlreadyUsed: it says nothing of the ticket.
	wantErr(t, "SpendTicket(spent, as emailVerify)", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, store.TicketEmailVerify)), store.ErrNotFound)
}

func ticketsPendingCodes(t *testing.T, e *env) {
	const kind, email = store.TicketEmailConfirmChange, "New.Address@Example.com"
	to := func(addr string) func(*store.Ticket) { return func(tk *store.Ticket) { tk.Email = addr } }
	a, b := e.user(), e.user()
	retired := e.ticket(a, kind, time.Hour, to(email))
	e.clock.Advance(time.Second)
	older := e.ticket(a, kind, time.Hour, to(email)) // retires the one before
	e.clock.Advance(time.Second)
	newer := e.ticket(b, kind, time.Hour, to(strings.ToUpper(email)))
	e.clock.Advance(time.Second)
	e.ticket(e.user(), kind, time.Hour, to("someone.else@example.com"))
	e.ticket(e.user(), store.TicketEmailVerify, time.Hour, to(email)) // another kind
	used := e.ticket(e.user(), kind, time.Hour, to(email))
	must(t, "SpendTicketByID", e.st.SpendTicketByID(e.ctx, used.ID))
	e.ticket(e.user(), kind, time.Hour, to(email), func(tk *store.Ticket) { tk.ExpiresAt = e.now() }) // expires now
	e.clock.Advance(time.Second)
	tried := e.ticket(e.user(), kind, time.Hour, to(email), func(tk *store.Ticket) { tk.Attempts = 3 })
	e.ticket(e.user(), kind, time.Hour, to(email), func(tk *store.Ticket) { tk.CodeHash = nil }) // a link without a code

	for _, lookup := range []string{email, strings.ToLower(email), strings.ToUpper(email), "  " + email + "\n"} {
		wantIDs(t, fmt.Sprintf("PendingCodeTickets(%q, max 3)", lookup), e.pendingIDs(lookup, kind, 3), []uuid.UUID{newer.ID, older.ID})
	}
	wantIDs(t, "PendingCodeTickets(max 4)", e.pendingIDs(email, kind, 4), []uuid.UUID{tried.ID, newer.ID, older.ID})
	wantIDs(t, "PendingCodeTickets(max 0)", e.pendingIDs(email, kind, 0), nil)
	wantIDs(t, "PendingCodeTickets(other kind)", e.pendingIDs(email, store.TicketPasswordReset, 5), nil)
	wantIDs(t, "PendingCodeTickets(unknown address)", e.pendingIDs("nobody@example.com", kind, 5), nil)
	wantErr(t, "SpendTicketByID(retired)", e.st.SpendTicketByID(e.ctx, retired.ID), store.ErrAlreadyUsed)
	// The expired one is out from the moment it expires; the others stay pending until theirs.
	e.clock.Advance(time.Hour - 3*time.Second - time.Microsecond)
	wantIDs(t, "PendingCodeTickets a microsecond before the oldest expires", e.pendingIDs(email, kind, 3), []uuid.UUID{newer.ID, older.ID})
	e.clock.Advance(time.Microsecond)
	wantIDs(t, "PendingCodeTickets when the oldest expires", e.pendingIDs(email, kind, 3), []uuid.UUID{newer.ID})
}

func ticketsTakeAttempt(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketSignInOTP, time.Hour, func(tk *store.Ticket) { tk.TokenHash = nil })
	other := e.ticket(e.user(), store.TicketSignInOTP, time.Hour)
	take := func(id uuid.UUID, maxAttempts int) bool {
		t.Helper()
		return mustValue(e.st.TakeTicketAttempt(e.ctx, id, maxAttempts))(t, "TakeTicketAttempt")
	}
	for i, want := range []bool{true, true, true, false, false} {
		if got := take(tk.ID, 3); got != want {
			t.Errorf("TakeTicketAttempt #%d with max 3 = %t, want %t", i+1, got, want)
		}
	}
	wantIDs(t, "PendingCodeTickets(max 3) out of tries", e.pendingIDs(*u.Email, tk.Kind, 3), nil)
	if !take(tk.ID, 4) {
		t.Errorf("TakeTicketAttempt with max 4 after 3 tries = false, want true")
	}
	pending := mustValue(e.st.PendingCodeTickets(e.ctx, *u.Email, tk.Kind, 5))(t, "PendingCodeTickets(max 5)")
	if len(pending) != 1 || pending[0].Attempts != 4 {
		t.Errorf("PendingCodeTickets(max 5) = %d tickets (attempts %v), want 1 with 4 attempts", len(pending), attemptsOf(pending))
	}
	// Another ticket's count is its own.
	pending = mustValue(e.st.PendingCodeTickets(e.ctx, other.Email, other.Kind, 5))(t, "PendingCodeTickets(other ticket)")
	if len(pending) != 1 || pending[0].Attempts != 0 {
		t.Errorf("other ticket: %d pending (attempts %v), want 1 with 0 attempts", len(pending), attemptsOf(pending))
	}
	if take(uuid.New(), 5) {
		t.Errorf("TakeTicketAttempt(unknown) = true, want false")
	}
	must(t, "SpendTicketByID", e.st.SpendTicketByID(e.ctx, tk.ID))
	if take(tk.ID, 10) {
		t.Errorf("TakeTicketAttempt(used) = true, want false")
	}
	e.clock.Advance(time.Hour)
	if take(other.ID, 5) {
		t.Errorf("TakeTicketAttempt(at expiry) = true, want false")
	}
}

func attemptsOf(ts []store.Ticket) []int {
	out := make([]int, len(ts))
	for i, tk := range ts {
		out[i] = tk.Attempts
	}
	return out
}

func ticketsSpendByID(t *testing.T, e *env) {
	u := e.user()
	tk := e.ticket(u, store.TicketEmailVerify, time.Hour)
	e.clock.Advance(time.Minute)
	must(t, "SpendTicketByID", e.st.SpendTicketByID(e.ctx, tk.ID))
	wantIDs(t, "PendingCodeTickets after SpendTicketByID", e.pendingIDs(*u.Email, tk.Kind, 5), nil)
	// The link is spent with the code: the same row.
	wantErr(t, "SpendTicket after SpendTicketByID", errOnly(e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)), store.ErrAlreadyUsed)
	wantErr(t, "second SpendTicketByID", e.st.SpendTicketByID(e.ctx, tk.ID), store.ErrAlreadyUsed)
	if err := e.st.SpendTicketByID(e.ctx, uuid.New()); err == nil {
		t.Errorf("SpendTicketByID(unknown): error = nil, want an error")
	}

	// An expired ticket cannot be spent by id either, and stays unused.
	exp := e.ticket(e.user(), store.TicketSignInOTP, time.Minute)
	e.clock.Advance(time.Minute)
	wantErr(t, "SpendTicketByID(at expiry)", e.st.SpendTicketByID(e.ctx, exp.ID), store.ErrAlreadyUsed)
	wantErr(t, "SpendTicket(expired, after SpendTicketByID)", errOnly(e.st.SpendTicket(e.ctx, exp.TokenHash, exp.Kind)), store.ErrExpired)

	// The spend stamps the clock: a ticket spent by id purges by that time.
	live := e.ticket(e.user(), store.TicketPasswordReset, 24*time.Hour)
	e.clock.Advance(time.Second)
	must(t, "SpendTicketByID", e.st.SpendTicketByID(e.ctx, live.ID))
	spentAt := e.now()
	n := mustValue(e.st.Purge(e.ctx, spentAt, e.t0))(t, "Purge(spentBefore = the spend)")
	wantErr(t, "SpendTicket(spent at spentBefore, kept)", errOnly(e.st.SpendTicket(e.ctx, live.TokenHash, live.Kind)), store.ErrAlreadyUsed)
	n += mustValue(e.st.Purge(e.ctx, spentAt.Add(time.Microsecond), e.t0))(t, "Purge(spentBefore after the spend)")
	wantErr(t, "SpendTicket(spent before spentBefore, purged)", errOnly(e.st.SpendTicket(e.ctx, live.TokenHash, live.Kind)), store.ErrNotFound)
	if n != 3 {
		t.Errorf("Purge = %d rows in all, want 3 (the three tickets)", n)
	}
}

func ticketsMarkEmailVerified(t *testing.T, e *env) {
	u := e.user(func(u *store.User) { u.Email = ptr("Verify.Me@Example.com") })
	other := e.user()
	anon := e.user(anonymous)
	e.clock.Advance(time.Minute)
	for _, addr := range []string{"verify.me@EXAMPLE.com", "Verify.Me@Example.com"} { // twice: idempotent
		must(t, fmt.Sprintf("MarkEmailVerified(%q)", addr), e.st.MarkEmailVerified(e.ctx, u.ID, addr))
		want := *u
		want.EmailVerified, want.UpdatedAt = true, e.now()
		wantEqual(t, "user after MarkEmailVerified", e.userByID(u.ID), &want)
		e.clock.Advance(time.Minute)
	}
	wantEqual(t, "another user after MarkEmailVerified", e.userByID(other.ID), other)

	fresh := e.user()
	wantErr(t, "MarkEmailVerified(another address)", e.st.MarkEmailVerified(e.ctx, fresh.ID, *other.Email), store.ErrEmailChanged)
	wantErr(t, "MarkEmailVerified(user without address)", e.st.MarkEmailVerified(e.ctx, anon.ID, "anon@example.com"), store.ErrEmailChanged)
	wantEqual(t, "user after refused MarkEmailVerified", e.userByID(fresh.ID), fresh)
	wantEqual(t, "user without address after refused MarkEmailVerified", e.userByID(anon.ID), anon)
	if err := e.st.MarkEmailVerified(e.ctx, uuid.New(), *other.Email); err == nil {
		t.Errorf("MarkEmailVerified(unknown user): error = nil, want an error")
	}
	// The address was mailed, then changed: the old mail no longer verifies anything.
	must(t, "ChangeEmail", e.st.ChangeEmail(e.ctx, fresh.ID, "moved@example.com"))
	wantErr(t, "MarkEmailVerified(address before the change)", e.st.MarkEmailVerified(e.ctx, fresh.ID, *fresh.Email), store.ErrEmailChanged)
}

func ticketsChangeEmail(t *testing.T, e *env) {
	u := e.user()
	other := e.user(func(u *store.User) { u.Email = ptr("Taken@Example.com") })
	e.clock.Advance(time.Minute)
	must(t, "ChangeEmail", e.st.ChangeEmail(e.ctx, u.ID, "New.Home@Example.COM"))
	want := *u
	want.Email, want.EmailLower, want.EmailVerified, want.UpdatedAt = ptr("New.Home@Example.COM"), ptr("new.home@example.com"), true, e.now()
	wantEqual(t, "user after ChangeEmail", e.userByID(u.ID), &want)
	if got := mustValue(e.st.UserByEmail(e.ctx, "new.home@example.com"))(t, "UserByEmail(new address)"); got.ID != u.ID {
		t.Errorf("UserByEmail(new address) = %s, want %s", got.ID, u.ID)
	}
	wantErr(t, "UserByEmail(old address)", errOnly(e.st.UserByEmail(e.ctx, *u.Email)), store.ErrNotFound)

	e.clock.Advance(time.Minute)
	for _, addr := range []string{"Taken@Example.com", "taken@example.com", "TAKEN@EXAMPLE.COM"} {
		wantConflict(t, fmt.Sprintf("ChangeEmail(%q)", addr), e.st.ChangeEmail(e.ctx, u.ID, addr), "email")
	}
	wantEqual(t, "user after refused ChangeEmail", e.userByID(u.ID), &want)
	wantEqual(t, "owner of the taken address", e.userByID(other.ID), other)

	// The user's own address in another case is not taken.
	must(t, "ChangeEmail(own address, other case)", e.st.ChangeEmail(e.ctx, u.ID, "new.home@example.com"))
	want.Email, want.UpdatedAt = ptr("new.home@example.com"), e.now()
	wantEqual(t, "user after ChangeEmail to its own address", e.userByID(u.ID), &want)

	wantErr(t, "ChangeEmail(unknown user)", e.st.ChangeEmail(e.ctx, uuid.New(), "ghost@example.com"), store.ErrNotFound)
	wantErr(t, "UserByEmail(address of the refused change)", errOnly(e.st.UserByEmail(e.ctx, "ghost@example.com")), store.ErrNotFound)
	wantCount(t, e, 2)
}

// ticketsExpiryOtherZones: expiry compares instants, whatever zone the times were written in.
func ticketsExpiryOtherZones(t *testing.T, e *env) {
	east, west := time.FixedZone("IST", 5*3600+1800), time.FixedZone("EST", -5*3600)
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		zone     *time.Location
		wantLive bool
	}{
		{"live-written-west-of-utc", time.Hour, west, true},
		{"live-written-east-of-utc", time.Hour, east, true},
		{"expired-written-east-of-utc", -time.Hour, east, false},
		{"expired-written-west-of-utc", -time.Hour, west, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			u := e.user()
			tk := e.ticket(u, store.TicketEmailVerify, tc.ttl, func(tk *store.Ticket) {
				tk.CreatedAt, tk.ExpiresAt = tk.CreatedAt.In(tc.zone), tk.ExpiresAt.In(tc.zone)
			})
			pending := e.pendingIDs(*u.Email, tk.Kind, 5)
			_, err := e.st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)
			if tc.wantLive {
				wantIDs(t, "PendingCodeTickets", pending, []uuid.UUID{tk.ID})
				wantErr(t, "SpendTicket", err, nil)
			} else {
				wantIDs(t, "PendingCodeTickets", pending, nil)
				wantErr(t, "SpendTicket", err, store.ErrExpired)
			}
		})
	}
}

// ---- contract=outbox ----

// The bodies MarkMailSent and a given-up MarkMailFailed clear are not observable through the
// store (no reader returns a settled message's bodies); their other effects are.

func outboxClaimDue(t *testing.T, e *env) {
	first := e.mail(-3 * time.Minute)
	third := e.mail(-time.Minute)
	second := e.mail(-2 * time.Minute)
	atNow := e.mail(0) // due at NextAttemptAt: due now
	future := e.mail(time.Minute)
	sent := e.mail(-5 * time.Minute)
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, sent.ID))
	failed := e.mail(-4 * time.Minute)
	must(t, "MarkMailFailed", e.st.MarkMailFailed(e.ctx, failed.ID, "550 no such user", time.Time{}))

	lease := e.now().Add(5 * time.Minute)
	got := e.claim(2, 5*time.Minute)
	wantIDs(t, "ClaimDueMail(limit 2)", mailIDs(got), idsOf(first, second))
	for _, m := range got {
		if m.Attempts != 1 || !m.NextAttemptAt.Equal(lease) {
			t.Errorf("claimed %s: Attempts %d, NextAttemptAt %s; want 1, %s", m.ID, m.Attempts, m.NextAttemptAt.Format(timeFormat), lease.Format(timeFormat))
		}
	}
	wantIDs(t, "ClaimDueMail(limit 10) after that", mailIDs(e.claim(10, 5*time.Minute)), idsOf(third, atNow))
	wantIDs(t, "ClaimDueMail with nothing due", mailIDs(e.claim(10, 5*time.Minute)), nil)
	e.clock.Advance(time.Minute - time.Microsecond)
	wantIDs(t, "ClaimDueMail a microsecond before the future one is due", mailIDs(e.claim(10, 5*time.Minute)), nil)
	e.clock.Advance(time.Microsecond)
	wantIDs(t, "ClaimDueMail when the future one is due", mailIDs(e.claim(10, 5*time.Minute)), idsOf(future))
	// Sent and given-up mail is never due again.
	e.clock.Advance(30 * 24 * time.Hour)
	wantIDs(t, "ClaimDueMail a month later (every lease lapsed), sorted", sortedIDs(mailIDs(e.claim(10, 5*time.Minute))),
		sortedIDs(idsOf(first, second, third, atNow, future)))
}

// outboxClaimLease: a claimed message is not due again until its lease ends; then it is, with one
// more attempt counted.
func outboxClaimLease(t *testing.T, e *env) {
	m := e.mail(0)
	other := e.mail(time.Hour)
	got := e.claim(10, 5*time.Minute)
	wantIDs(t, "ClaimDueMail", mailIDs(got), idsOf(m))
	lease := e.now().Add(5 * time.Minute)
	if at, ok, err := e.st.NextMailDue(e.ctx); err != nil || !ok || diffTime(at, lease) != "" {
		t.Errorf("NextMailDue while leased = %s, %t, %v; want the lease end %s, true, nil", at.Format(timeFormat), ok, err, lease.Format(timeFormat))
	}
	wantIDs(t, "ClaimDueMail while leased", mailIDs(e.claim(10, 5*time.Minute)), nil)
	e.clock.Advance(5*time.Minute - time.Microsecond)
	wantIDs(t, "ClaimDueMail a microsecond before the lease ends", mailIDs(e.claim(10, 5*time.Minute)), nil)
	e.clock.Advance(time.Microsecond)
	got = e.claim(10, 7*time.Minute)
	wantIDs(t, "ClaimDueMail when the lease ends", mailIDs(got), idsOf(m))
	if len(got) == 1 && (got[0].Attempts != 2 || !got[0].NextAttemptAt.Equal(e.now().Add(7*time.Minute))) {
		t.Errorf("second claim: Attempts %d, NextAttemptAt %s; want 2, %s", got[0].Attempts, got[0].NextAttemptAt.Format(timeFormat), e.now().Add(7*time.Minute).Format(timeFormat))
	}
	list := e.undelivered(10)
	if len(list) != 2 || list[1].ID != m.ID || list[1].Attempts != 2 || list[0].ID != other.ID || list[0].Attempts != 0 {
		t.Errorf("UndeliveredMail = %v (attempts %v), want [%s %s] with attempts [0 2]", mailIDs(list), mailAttempts(list), other.ID, m.ID)
	}
}

func mailAttempts(ms []store.OutboxMail) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Attempts
	}
	return out
}

func outboxMarkSent(t *testing.T, e *env) {
	a := e.mail(0)
	e.clock.Advance(time.Second)
	b := e.mail(0)
	wantIDs(t, "ClaimDueMail", mailIDs(e.claim(10, 5*time.Minute)), idsOf(a, b))
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, a.ID))
	wantIDs(t, "UndeliveredMail after MarkMailSent", mailIDs(e.undelivered(10)), idsOf(b))
	e.clock.Advance(time.Hour)
	wantIDs(t, "ClaimDueMail after the lease ended", mailIDs(e.claim(10, 5*time.Minute)), idsOf(b))

	// A message sent after a failed attempt: the failure is history, and it is settled.
	must(t, "MarkMailFailed(retry)", e.st.MarkMailFailed(e.ctx, b.ID, "451 busy", e.now().Add(time.Minute)))
	e.clock.Advance(time.Minute)
	wantIDs(t, "ClaimDueMail at the retry", mailIDs(e.claim(10, 5*time.Minute)), idsOf(b))
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, b.ID))
	wantIDs(t, "UndeliveredMail with everything sent", mailIDs(e.undelivered(10)), nil)
	if _, ok, err := e.st.NextMailDue(e.ctx); ok || err != nil {
		t.Errorf("NextMailDue with everything sent = %t, %v; want false, nil", ok, err)
	}
	must(t, "MarkMailSent(unknown)", e.st.MarkMailSent(e.ctx, uuid.New()))
	if c := e.rowCounts()["mail_outbox"]; c != 2 {
		t.Errorf("mail_outbox rows = %d, want 2 (sent mail stays until purged)", c)
	}
}

func outboxMarkFailed(t *testing.T, e *env) {
	retry := e.mail(0)
	e.clock.Advance(time.Second)
	giveUp := e.mail(0)
	got := e.claim(10, 5*time.Minute)
	wantIDs(t, "ClaimDueMail", mailIDs(got), idsOf(retry, giveUp))
	lease := e.now().Add(5 * time.Minute)
	e.clock.Advance(time.Second)
	retryAt := e.at(10 * time.Minute)
	must(t, "MarkMailFailed(retry)", e.st.MarkMailFailed(e.ctx, retry.ID, "451 4.3.0 busy", retryAt))
	must(t, "MarkMailFailed(give up)", e.st.MarkMailFailed(e.ctx, giveUp.ID, "550 5.1.1 no such user", time.Time{}))

	list := e.undelivered(10)
	if len(list) != 2 {
		t.Fatalf("UndeliveredMail returned %d messages, want 2", len(list))
	}
	wantGiveUp := withoutBodies(giveUp)
	wantGiveUp.Attempts, wantGiveUp.NextAttemptAt = 1, lease
	wantGiveUp.LastError, wantGiveUp.FailedAt = "550 5.1.1 no such user", ptr(e.now())
	wantEqual(t, "given-up message", &list[0], wantGiveUp)
	wantRetry := *retry
	wantRetry.Attempts, wantRetry.NextAttemptAt, wantRetry.LastError = 1, retryAt, "451 4.3.0 busy"
	wantEqual(t, "message to retry", &list[1], withoutBodies(&wantRetry))
	if at, ok, err := e.st.NextMailDue(e.ctx); err != nil || !ok || diffTime(at, retryAt) != "" {
		t.Errorf("NextMailDue = %s, %t, %v; want the retry %s, true, nil", at.Format(timeFormat), ok, err, retryAt.Format(timeFormat))
	}

	e.clock.Advance(retryAt.Sub(e.now()) - time.Microsecond)
	wantIDs(t, "ClaimDueMail a microsecond before the retry", mailIDs(e.claim(10, 5*time.Minute)), nil)
	e.clock.Advance(time.Microsecond)
	got = e.claim(10, 5*time.Minute)
	wantIDs(t, "ClaimDueMail at the retry", mailIDs(got), idsOf(retry))
	if len(got) == 1 {
		// The retry keeps its bodies and its last error.
		wantRetry.Attempts, wantRetry.NextAttemptAt = 2, e.now().Add(5*time.Minute)
		wantEqual(t, "message claimed for its retry", &got[0], &wantRetry)
	}
	e.clock.Advance(30 * 24 * time.Hour)
	wantIDs(t, "ClaimDueMail a month later (the given-up one never again)", mailIDs(e.claim(10, 5*time.Minute)), idsOf(retry))
	must(t, "MarkMailFailed(give up the other)", e.st.MarkMailFailed(e.ctx, retry.ID, "gave up", time.Time{}))
	if _, ok, err := e.st.NextMailDue(e.ctx); ok || err != nil {
		t.Errorf("NextMailDue with everything given up = %t, %v; want false, nil", ok, err)
	}
}

func outboxUndelivered(t *testing.T, e *env) {
	if got := e.undelivered(10); len(got) != 0 {
		t.Errorf("UndeliveredMail on an empty store = %v, want none", mailIDs(got))
	}
	waiting := e.mail(time.Hour)
	e.clock.Advance(time.Second)
	leased := e.mail(0)
	wantIDs(t, "ClaimDueMail", mailIDs(e.claim(10, 5*time.Minute)), idsOf(leased))
	e.clock.Advance(time.Second)
	sent := e.mail(0)
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, sent.ID))
	e.clock.Advance(time.Second)
	gaveUp := e.mail(0)
	must(t, "MarkMailFailed(give up)", e.st.MarkMailFailed(e.ctx, gaveUp.ID, "x", time.Time{}))
	e.clock.Advance(time.Second)
	retrying := e.mail(0)
	must(t, "MarkMailFailed(retry)", e.st.MarkMailFailed(e.ctx, retrying.ID, "y", e.now().Add(time.Minute)))

	for _, tc := range []struct {
		limit int
		want  []*store.OutboxMail
	}{
		{10, []*store.OutboxMail{retrying, gaveUp, leased, waiting}},
		{4, []*store.OutboxMail{retrying, gaveUp, leased, waiting}},
		{2, []*store.OutboxMail{retrying, gaveUp}},
		{1, []*store.OutboxMail{retrying}},
	} {
		list := e.undelivered(tc.limit)
		wantIDs(t, fmt.Sprintf("UndeliveredMail(%d)", tc.limit), mailIDs(list), idsOf(tc.want...))
		for _, m := range list {
			if m.TextBody != nil || m.HTMLBody != nil {
				t.Errorf("UndeliveredMail(%d): %s has TextBody %s, HTMLBody %s; want both nil (not loaded)", tc.limit, m.ID, show(m.TextBody), show(m.HTMLBody))
			}
		}
	}
}

func outboxNextDue(t *testing.T, e *env) {
	wantNext := func(what string, want *time.Time) {
		t.Helper()
		at, ok, err := e.st.NextMailDue(e.ctx)
		must(t, "NextMailDue", err)
		switch {
		case want == nil && ok:
			t.Errorf("NextMailDue %s = %s, true; want false", what, at.Format(timeFormat))
		case want != nil && !ok:
			t.Errorf("NextMailDue %s = false, want %s", what, want.Format(timeFormat))
		case want != nil:
			if d := diffTime(at, *want); d != "" {
				t.Errorf("NextMailDue %s: %s", what, d)
			}
		}
	}
	wantNext("on an empty store", nil)
	sent := e.mail(-time.Hour)
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, sent.ID))
	failed := e.mail(-2 * time.Hour)
	must(t, "MarkMailFailed", e.st.MarkMailFailed(e.ctx, failed.ID, "x", time.Time{}))
	wantNext("with only sent and given-up mail", nil)
	later := e.mail(time.Hour, func(m *store.OutboxMail) { m.NextAttemptAt = e.at(time.Hour) })
	wantNext("with one waiting", &later.NextAttemptAt)
	sooner := e.mail(0, func(m *store.OutboxMail) { m.NextAttemptAt = e.at(10 * time.Minute) })
	wantNext("with a sooner one", &sooner.NextAttemptAt)
	overdue := e.mail(0, func(m *store.OutboxMail) { m.NextAttemptAt = e.at(-time.Minute) })
	wantNext("with an overdue one", &overdue.NextAttemptAt)
	wantIDs(t, "ClaimDueMail", mailIDs(e.claim(10, 20*time.Minute)), idsOf(overdue))
	wantNext("after claiming the overdue one", &sooner.NextAttemptAt)
}

// outboxOtherZones: due times, retries and leases written in other zones compare as instants,
// and the lease ClaimDueMail reports comes back in UTC like every time the store hands out.
func outboxOtherZones(t *testing.T, e *env) {
	east, west := time.FixedZone("IST", 5*3600+1800), time.FixedZone("EST", -5*3600)
	in := func(z *time.Location) func(*store.OutboxMail) {
		return func(m *store.OutboxMail) {
			m.CreatedAt, m.ExpiresAt, m.NextAttemptAt = m.CreatedAt.In(z), m.ExpiresAt.In(z), m.NextAttemptAt.In(z)
		}
	}
	dueEast := e.mail(-time.Minute, in(east))
	dueWest := e.mail(-2*time.Minute, in(west))
	e.mail(10*time.Minute, in(east))
	e.mail(20*time.Minute, in(west))
	lease := e.now().Add(5 * time.Minute).In(west)
	got := mustValue(e.st.ClaimDueMail(e.ctx, 10, lease))(t, "ClaimDueMail")
	wantIDs(t, "ClaimDueMail", mailIDs(got), idsOf(dueWest, dueEast))
	for _, m := range got {
		if d := diffTime(m.NextAttemptAt, lease); d != "" {
			t.Errorf("ClaimDueMail: %s: NextAttemptAt: %s", m.ID, d)
		}
	}
	retryAt := e.now().Add(3 * time.Minute).In(east)
	must(t, "MarkMailFailed(retry)", e.st.MarkMailFailed(e.ctx, dueEast.ID, "451", retryAt))
	listed := false
	for _, m := range e.undelivered(10) {
		if m.ID == dueEast.ID {
			listed = true
			if d := diffTime(m.NextAttemptAt, retryAt); d != "" {
				t.Errorf("UndeliveredMail: retry NextAttemptAt: %s", d)
			}
		}
	}
	if !listed {
		t.Errorf("UndeliveredMail does not list the message waiting for its retry (%s)", dueEast.ID)
	}
	e.clock.Advance(3*time.Minute - time.Microsecond)
	wantIDs(t, "ClaimDueMail a microsecond before the retry written east of UTC", mailIDs(e.claim(10, time.Hour)), nil)
	e.clock.Advance(time.Microsecond)
	wantIDs(t, "ClaimDueMail at the retry written east of UTC", mailIDs(e.claim(10, time.Hour)), idsOf(dueEast))
}

// ---- contract=purge ----

func purgeTicketsAndMail(t *testing.T, e *env) {
	const day = 24 * time.Hour
	t0 := e.now()
	ticket := func(ttl time.Duration) *store.Ticket { return e.ticket(e.user(), store.TicketPasswordReset, ttl) }
	tLive := ticket(30 * day)
	tExpiredOld := ticket(day)                  // expired T0+1d: goes
	tExpiredAtSpentBefore := ticket(9 * day)    // expires exactly at spentBefore: goes (<=)
	tExpiredRecent := ticket(9*day + time.Hour) // expired T0+9d+1h, after spentBefore: stays
	tUsedOld := ticket(30 * day)                // used T0+8d: goes
	tUsedAtSpentBefore := ticket(30 * day)      // used exactly at spentBefore: stays (strict <)
	tUsedRecent := ticket(30 * day)             // used T0+9d+1h: stays
	owner := e.user()
	tRetired := e.ticket(owner, store.TicketPasswordReset, 30*day) // retired T0+2d: goes

	at := func(d time.Duration) func(*store.OutboxMail) {
		return func(m *store.OutboxMail) { m.ExpiresAt = t0.Add(d) }
	}
	mPending := e.mail(0, at(day))     // never settled, long past its expiry: stays
	mRetrying := e.mail(0, at(30*day)) // failed once, to be retried: stays
	mSentOld := e.mail(0)              // sent T0+2d: goes
	mSentAtEnded := e.mail(0)          // sent exactly at endedBefore: stays (strict <)
	mSentRecent := e.mail(0)           // sent T0+4d: stays
	mFailedOld := e.mail(0)            // given up T0+2d: goes
	mFailedRecent := e.mail(0)         // given up T0+4d: stays

	e.clock.Advance(2 * day) // T0+2d
	tSuccessor := e.ticket(owner, store.TicketPasswordReset, 30*day)
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, mSentOld.ID))
	must(t, "MarkMailFailed(give up)", e.st.MarkMailFailed(e.ctx, mFailedOld.ID, "550", time.Time{}))
	must(t, "MarkMailFailed(retry)", e.st.MarkMailFailed(e.ctx, mRetrying.ID, "451", e.now().Add(20*day)))
	e.clock.Advance(day) // T0+3d
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, mSentAtEnded.ID))
	e.clock.Advance(day) // T0+4d
	must(t, "MarkMailSent", e.st.MarkMailSent(e.ctx, mSentRecent.ID))
	must(t, "MarkMailFailed(give up)", e.st.MarkMailFailed(e.ctx, mFailedRecent.ID, "550", time.Time{}))
	e.clock.Advance(4 * day) // T0+8d
	must(t, "SpendTicket", errOnly(e.st.SpendTicket(e.ctx, tUsedOld.TokenHash, tUsedOld.Kind)))
	e.clock.Advance(day) // T0+9d
	must(t, "SpendTicketByID", e.st.SpendTicketByID(e.ctx, tUsedAtSpentBefore.ID))
	e.clock.Advance(time.Hour) // T0+9d+1h
	must(t, "SpendTicket", errOnly(e.st.SpendTicket(e.ctx, tUsedRecent.TokenHash, tUsedRecent.Kind)))
	e.clock.Advance(23 * time.Hour) // T0+10d
	spentBefore, endedBefore := t0.Add(9*day), t0.Add(3*day)

	n := mustValue(e.st.Purge(e.ctx, spentBefore, endedBefore))(t, "Purge")
	if n != 6 {
		t.Errorf("Purge = %d rows, want 6 (four tickets, two messages)", n)
	}
	if c := e.rowCounts(); c["tickets"] != 5 || c["mail_outbox"] != 5 || c["users"] != 8 {
		t.Errorf("rows after Purge: tickets %d, mail_outbox %d, users %d; want 5, 5, 8", c["tickets"], c["mail_outbox"], c["users"])
	}
	wantIDs(t, "UndeliveredMail after Purge, sorted", sortedIDs(mailIDs(e.undelivered(10))), sortedIDs(idsOf(mPending, mRetrying, mFailedRecent)))
	for _, tc := range []struct {
		name string
		tk   *store.Ticket
		kept bool
	}{
		{"live", tLive, true},
		{"expired-before-spentBefore", tExpiredOld, false},
		{"expired-at-spentBefore", tExpiredAtSpentBefore, false},
		{"expired-after-spentBefore", tExpiredRecent, true},
		{"used-before-spentBefore", tUsedOld, false},
		{"used-at-spentBefore", tUsedAtSpentBefore, true},
		{"used-after-spentBefore", tUsedRecent, true},
		{"retired-before-spentBefore", tRetired, false},
		{"successor-of-retired", tSuccessor, true},
	} {
		_, err := e.st.SpendTicket(e.ctx, tc.tk.TokenHash, tc.tk.Kind) // spends the live ones: they stay
		if deleted := errors.Is(err, store.ErrNotFound); deleted == tc.kept {
			t.Errorf("ticket %s: SpendTicket after Purge error = %v, want it kept %t", tc.name, err, tc.kept)
		}
	}

	// The boundaries, one at a time: strictly before, never at.
	for _, tc := range []struct {
		name                     string
		spentBefore, endedBefore time.Time
		want                     int64
	}{
		{"again", spentBefore, endedBefore, 0},
		{"endedBefore-past-a-sending", spentBefore, endedBefore.Add(time.Microsecond), 1},
		{"spentBefore-past-a-use", spentBefore.Add(time.Microsecond), endedBefore.Add(time.Microsecond), 1},
		{"endedBefore-past-the-rest", spentBefore.Add(time.Microsecond), t0.Add(4*day + time.Microsecond), 2},
	} {
		n := mustValue(e.st.Purge(e.ctx, tc.spentBefore, tc.endedBefore))(t, "Purge "+tc.name)
		if n != tc.want {
			t.Errorf("Purge %s = %d rows, want %d", tc.name, n, tc.want)
		}
	}
	wantIDs(t, "UndeliveredMail at the end, sorted", sortedIDs(mailIDs(e.undelivered(10))), sortedIDs(idsOf(mPending, mRetrying)))
	if c := e.rowCounts(); c["tickets"] != 4 || c["mail_outbox"] != 2 {
		t.Errorf("rows at the end: tickets %d, mail_outbox %d; want 4, 2", c["tickets"], c["mail_outbox"])
	}
}

// ---- race= ----

// raceSpendTicket has 16 goroutines use one mailed link at the same moment: exactly one may
// win, every other one must see ErrAlreadyUsed, never a driver error.
func raceSpendTicket(t *testing.T, e *env, inTx bool) {
	u := e.user()
	for i := range raceIterations {
		tk := e.ticket(u, store.TicketSignInPasswordless, time.Hour)
		got := make([]*store.Ticket, racers)
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			got[g], err = st.SpendTicket(e.ctx, tk.TokenHash, tk.Kind)
			return err
		})

		var winners, used int
		var others []string
		for g, err := range errs {
			switch {
			case err == nil:
				winners++
				if got[g] == nil || got[g].ID != tk.ID || got[g].UsedAt == nil || !got[g].UsedAt.Equal(e.now()) {
					t.Errorf("iteration %d: winner %d got %+v, want ticket %s used at %s", i, g, got[g], tk.ID, e.now().Format(timeFormat))
				}
			case errors.Is(err, store.ErrAlreadyUsed):
				used++
			default:
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, err))
			}
		}
		if winners != 1 || used != racers-1 {
			t.Fatalf("iteration %d: %d winners, %d ErrAlreadyUsed, other errors %q; want 1 winner and %d ErrAlreadyUsed",
				i, winners, used, others, racers-1)
		}
		wantIDs(t, fmt.Sprintf("iteration %d: PendingCodeTickets after the race", i), e.pendingIDs(*u.Email, tk.Kind, 5), nil)
		e.clock.Advance(time.Millisecond)
	}
}

// raceTakeTicketAttempt has 16 goroutines guess one code at the same moment with 5 tries
// allowed: exactly 5 may count a try, whatever the interleaving.
func raceTakeTicketAttempt(t *testing.T, e *env, inTx bool) {
	const maxAttempts = 5
	u := e.user()
	for i := range raceIterations / 2 {
		tk := e.ticket(u, store.TicketSignInOTP, time.Hour)
		oks := make([]bool, racers)
		errs := e.atOnce(racers, inTx, func(g int, st *store.Store) error {
			var err error
			oks[g], err = st.TakeTicketAttempt(e.ctx, tk.ID, maxAttempts)
			return err
		})

		var taken int
		var others []string
		for g := range racers {
			switch {
			case errs[g] != nil:
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, errs[g]))
			case oks[g]:
				taken++
			}
		}
		if taken != maxAttempts || len(others) != 0 {
			t.Fatalf("iteration %d: %d tries counted, errors %q; want exactly %d and no errors", i, taken, others, maxAttempts)
		}
		pending := mustValue(e.st.PendingCodeTickets(e.ctx, *u.Email, tk.Kind, maxAttempts+1))(t, "PendingCodeTickets")
		if len(pending) != 1 || pending[0].Attempts != maxAttempts {
			t.Fatalf("iteration %d: PendingCodeTickets(max %d) = %d tickets (attempts %v), want 1 with %d attempts",
				i, maxAttempts+1, len(pending), attemptsOf(pending), maxAttempts)
		}
		e.clock.Advance(time.Millisecond)
	}
}

// raceClaimDueMail has 16 instances drain one outbox at the same moment, a few messages per
// claim: every message must be claimed exactly once (else it goes out twice), and no claimer may
// fail with a lock error. Some messages share a due time, as mail queued together does.
func raceClaimDueMail(t *testing.T, e *env, inTx bool) {
	const perClaim, messages = 3, 3 * racers
	for i := range raceIterations / 4 {
		var queued []*store.OutboxMail
		for k := range messages {
			queued = append(queued, e.mail(-time.Duration(k/2)*time.Microsecond))
		}
		lease := e.now().Add(time.Hour)
		claim := func(st *store.Store) ([]store.OutboxMail, error) { return st.ClaimDueMail(e.ctx, perClaim, lease) }
		claimed := make([][]store.OutboxMail, racers)
		errs := make([]error, racers)
		startLine := make(chan struct{})
		var wg sync.WaitGroup
		for g := range racers {
			wg.Go(func() {
				<-startLine
				for {
					var batch []store.OutboxMail
					var err error
					if inTx {
						err = e.st.Tx(e.ctx, func(tx *store.Store) error {
							var err error
							batch, err = claim(tx)
							return err
						})
					} else {
						batch, err = claim(e.st)
					}
					if err != nil {
						errs[g] = err
						return
					}
					if len(batch) == 0 {
						return
					}
					claimed[g] = append(claimed[g], batch...)
				}
			})
		}
		close(startLine)
		wg.Wait()
		// A claimer that lost every message of a batch stops early; whatever is still due
		// goes to one last claim here.
		rest := mustValue(e.st.ClaimDueMail(e.ctx, messages, lease))(t, "ClaimDueMail(the rest)")

		var others []string
		for g, err := range errs {
			if err != nil {
				others = append(others, fmt.Sprintf("goroutine %d: %v", g, err))
			}
		}
		times := map[uuid.UUID]int{}
		for _, ms := range append(claimed, rest) {
			for _, m := range ms {
				times[m.ID]++
				if m.Attempts != 1 || !m.NextAttemptAt.Equal(lease) {
					t.Errorf("iteration %d: %s claimed with Attempts %d, NextAttemptAt %s; want 1, %s",
						i, m.ID, m.Attempts, m.NextAttemptAt.Format(timeFormat), lease.Format(timeFormat))
				}
			}
		}
		var wrong []string
		for _, m := range queued {
			if times[m.ID] != 1 {
				wrong = append(wrong, fmt.Sprintf("%s claimed %d times", m.ID, times[m.ID]))
			}
		}
		if len(others) != 0 || len(wrong) != 0 || len(times) != messages {
			t.Fatalf("iteration %d: errors %q; %q; %d distinct messages claimed; want no errors and each of %d messages claimed once",
				i, others, wrong, len(times), messages)
		}
		list := e.undelivered(messages)
		if got := mailAttempts(list); slices.ContainsFunc(got, func(n int) bool { return n != 1 }) {
			t.Fatalf("iteration %d: attempts stored after the race = %v, want 1 each", i, got)
		}
		e.clock.Advance(time.Millisecond)
	}
}
