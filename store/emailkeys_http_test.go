package store_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// TestUpgradeKeepsOwnersSigningIn: accounts made before the one address rule, whose addresses
// were stored with capitals or decomposed letters outside ASCII, sign in after the upgrade in
// every dialect that takes an address, typing it as the rule asks (lower case, composed), and
// get their reset mail there; the look-alikes that answered for another's address no longer do,
// and that address's owner signs up as a new account.
func TestUpgradeKeepsOwnersSigningIn(t *testing.T) {
	const password = "correct-horse-battery"
	ctx := t.Context()
	clock := testdb.NewClock()
	st := testdb.Open(t, testdb.Options{Now: clock.Now})
	h := servertest.StartOn(t, st, clock)
	post := func(path string, kv ...string) (int, []byte) {
		t.Helper()
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return h.Do(t, http.MethodPost, path, map[string]string{"Content-Type": "application/json"}, string(body))
	}
	userID := func(body []byte) string {
		var res struct {
			Session struct{ User struct{ ID string } }
		}
		_ = json.Unmarshal(body, &res) // an empty id fails the comparison that follows
		return res.Session.User.ID
	}

	owners := []struct{ stored, typed string }{
		{"Åsa@x.se", "åsa@x.se"},
		{"ZOË@Example.org", "zoë@example.org"},
		{"Zoe\u0308@example.net", "zoë@example.net"}, // decomposed (beside ZOË@Example.org it would be isolated)
		{"Élodie@example.fr", "élodie@example.fr"},
	}
	lookAlikes := []struct{ stored, real string }{
		{"ceo@İbm.com", "ceo@ibm.com"},
		{"\u212Aate@ibm.com", "kate@ibm.com"},
	}
	ids := map[string]string{}
	n := 0
	plant := func(stored string) {
		n++
		status, body := post("/v1/signup/email-password", "email", fmt.Sprintf("legacy-%d@example.com", n), "password", password)
		if status != http.StatusOK || userID(body) == "" {
			t.Fatalf("sign-up for %q: %d %s", stored, status, body)
		}
		ids[stored] = userID(body)
	}
	for _, o := range owners {
		plant(o.stored)
	}
	for _, la := range lookAlikes {
		plant(la.stored)
	}
	// The database as the code before the rule left it: the address as given, keyed by
	// strings.ToLower.
	if err := st.MigrateDownTo(ctx, 6); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	for stored, id := range ids {
		if err := st.Exec(ctx, "UPDATE users SET email = ?, email_lower = ? WHERE id = ?", stored, strings.ToLower(stored), id); err != nil {
			t.Fatalf("plant %q: %v", stored, err)
		}
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}

	for _, o := range owners {
		status, body := post("/v1/signin/email-password", "email", o.typed, "password", password)
		if status != http.StatusOK || userID(body) != ids[o.stored] {
			t.Errorf("Nhost sign-in as %q (stored %q) after the upgrade: %d %.300s; want user %s", o.typed, o.stored, status, body, ids[o.stored])
		}
		if status, body := post("/login", "email", o.typed, "password", password); status != http.StatusOK {
			t.Errorf("Zesty login as %q (stored %q) after the upgrade: %d %.300s", o.typed, o.stored, status, body)
		}
		if status, body := post("/sign_in", "email", o.typed, "password", password); status != http.StatusCreated {
			t.Errorf("Authentication Zero sign-in as %q (stored %q) after the upgrade: %d %.300s", o.typed, o.stored, status, body)
		}
		if status, body := post("/v1/user/password/reset", "email", o.typed); status != http.StatusOK {
			t.Fatalf("reset for %q after the upgrade: %d %s", o.typed, status, body)
		}
		h.Mail.Next(t, o.typed)
	}
	for _, la := range lookAlikes {
		if status, body := post("/v1/signin/email-password", "email", la.real, "password", password); status != http.StatusUnauthorized {
			t.Errorf("Nhost sign-in as %q with the password of the look-alike %q: %d %.300s; want 401", la.real, la.stored, status, body)
		}
		status, body := post("/v1/signup/email-password", "email", la.real, "password", password)
		if status != http.StatusOK || userID(body) == "" || userID(body) == ids[la.stored] {
			t.Errorf("sign-up of %q after the upgrade: %d %.300s; want an account of its own", la.real, status, body)
		}
		if status, body := post("/v1/user/password/reset", "email", la.real); status != http.StatusOK {
			t.Fatalf("reset for %q: %d %s", la.real, status, body)
		}
		h.Mail.Next(t, la.real)
		if got := h.Mail.Count(la.stored); got != 0 {
			t.Errorf("%d mails went to the look-alike %q", got, la.stored)
		}
		if err := store.CheckEmail(la.stored); err == nil {
			t.Errorf("CheckEmail(%q) accepts the look-alike", la.stored)
		}
	}
}
