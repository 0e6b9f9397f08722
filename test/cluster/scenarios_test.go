package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store/redisctr/redistest"
)

// The settings every cluster here runs with: a sign-in allowance small enough to spend (per
// address and per account, over an hour so that a test does not straddle windows), a lockout
// after three wrong passwords, and signing keys re-read every second.
var clusterSettings = []string{
	"LATCHKEY_RATE_LIMIT_SIGNIN=10/1h",
	"LATCHKEY_LOCKOUT_THRESHOLD=3",
	"LATCHKEY_LOCKOUT_DURATION=15m",
	"LATCHKEY_KEY_RELOAD_INTERVAL=1s",
}

// TestTwoInstancesAsOne runs every case on one pair of instances, once with the rate-limit
// counters in the database and once in Redis. Each case calls from a client address of its own
// (127.0.0.x), so the per-address limits of one case do not spend another's.
func TestTwoInstancesAsOne(t *testing.T) {
	needPostgres(t)
	for _, ctr := range []counters{inDatabase, inRedis} {
		t.Run("counters="+string(ctr), func(t *testing.T) {
			c := startCluster(t, ctr, clusterSettings...)
			t.Run("case=session-moves-between-instances", func(t *testing.T) { sessionMoves(t, c, "127.0.0.11") })
			t.Run("case=refresh-race-within-leeway", func(t *testing.T) { refreshWithinLeeway(t, c, "127.0.0.12") })
			t.Run("case=rate-limit-counts-across", func(t *testing.T) { rateLimitAcross(t, c, ctr, 13) })
			t.Run("case=lockout-across-and-admin-clear", func(t *testing.T) { lockoutAcross(t, c, "127.0.0.14") })
			t.Run("case=password-check-counts-per-account", func(t *testing.T) { passwordCheckAcross(t, c, ctr) })
			t.Run("case=ticket-requested-on-A-spent-on-B", func(t *testing.T) { ticketAcross(t, c, "127.0.0.15") })
			t.Run("case=readyz-reports-counters", func(t *testing.T) { readyz(t, c, ctr) })
			// Last: it changes the key every later token would be signed with.
			t.Run("case=key-rotation-reaches-both", func(t *testing.T) { keyRotation(t, c, "127.0.0.16") })
		})
	}
}

// TestRefreshReuseAcrossInstances: with the leeway off, a refresh token spent on A is refused on
// B, and that replay ends the session on A as well (theft detection is not node-local).
func TestRefreshReuseAcrossInstances(t *testing.T) {
	needPostgres(t)
	for _, ctr := range []counters{inDatabase, inRedis} {
		t.Run("counters="+string(ctr), func(t *testing.T) {
			c := startCluster(t, ctr, append(slices.Clone(clusterSettings), "LATCHKEY_REFRESH_REUSE_LEEWAY=0s")...)
			ip := "127.0.0.21"
			a, b := c.a.client(t, ip), c.b.client(t, ip)
			s := signUp(t, c, a, "reuse@example.com", "correct-horse-battery-2")
			r1 := refresh(t, c, a, s.RefreshToken)
			if r1.JSON200 == nil {
				t.Fatalf("refresh on A: %d %s", r1.StatusCode(), r1.Body)
			}
			r2 := refresh(t, c, b, s.RefreshToken)
			if r2.StatusCode() != http.StatusUnauthorized || r2.JSON401 == nil || r2.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken {
				t.Fatalf("token spent on A, presented on B: %d %s, want 401 invalid-refresh-token", r2.StatusCode(), r2.Body)
			}
			if r := refresh(t, c, a, r1.JSON200.RefreshToken); r.StatusCode() != http.StatusUnauthorized {
				t.Fatalf("the successor on A after a replay on B: %d %s, want 401 (session ended)", r.StatusCode(), r.Body)
			}
			wantRefusedWithin(t, a, r1.JSON200.AccessToken, revocationBound)
		})
	}
}

// sessionMoves: sign up and in on A, refresh on B, use B's token on A; sign out on B and A
// refuses that session's access token within the revocation bound, while another session of the user lives on.
func sessionMoves(t *testing.T, c *cluster, ip string) {
	a, b := c.a.client(t, ip), c.b.client(t, ip)
	const email, pw = "moves@example.com", "correct-horse-battery-1"
	up := signUp(t, c, a, email, pw)
	in := signIn(t, c, a, email, pw)
	r := refresh(t, c, b, in.RefreshToken)
	if r.JSON200 == nil {
		t.Fatalf("refresh on B of a session made on A: %d %s", r.StatusCode(), r.Body)
	}
	s := *r.JSON200
	wantUser(t, a, s.AccessToken, http.StatusOK)
	wantUser(t, b, in.AccessToken, http.StatusOK)

	out, err := b.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &s.RefreshToken}, bearer(s.AccessToken))
	if err != nil || out.StatusCode() != http.StatusOK {
		t.Fatalf("sign out on B: %v %d %s", err, out.StatusCode(), out.Body)
	}
	// A may answer from its session cache until its lease shows the revocation: it must refuse
	// within the revocation bound (default 250ms), never later.
	wantRefusedWithin(t, a, s.AccessToken, revocationBound)
	wantUser(t, a, in.AccessToken, http.StatusUnauthorized)
	if r := refresh(t, c, a, s.RefreshToken); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("refresh on A after sign-out on B: %d %s", r.StatusCode(), r.Body)
	}
	wantUser(t, a, up.AccessToken, http.StatusOK) // the sign-up session is another one
}

// refreshWithinLeeway: two tabs present one refresh token, one to A and one to B, within the
// leeway: both get the same successor.
func refreshWithinLeeway(t *testing.T, c *cluster, ip string) {
	a, b := c.a.client(t, ip), c.b.client(t, ip)
	s := signUp(t, c, a, "tabs@example.com", "correct-horse-battery-3")
	ra := refresh(t, c, a, s.RefreshToken)
	rb := refresh(t, c, b, s.RefreshToken)
	if ra.JSON200 == nil || rb.JSON200 == nil {
		t.Fatalf("refresh on A: %d %s; on B: %d %s", ra.StatusCode(), ra.Body, rb.StatusCode(), rb.Body)
	}
	if ra.JSON200.RefreshToken != rb.JSON200.RefreshToken || ra.JSON200.RefreshToken == s.RefreshToken {
		t.Fatalf("successors differ or did not rotate: A %s…, B %s…", ra.JSON200.RefreshToken[:8], rb.JSON200.RefreshToken[:8])
	}
	wantUser(t, b, ra.JSON200.AccessToken, http.StatusOK)
}

// rateLimitAcross: sign-ins from one address alternate between A and B; the allowance of 10 is
// spent across both, and the 11th is refused on either with Retry-After. The counts are where the
// configuration says: in Redis, and not in the database, or the other way round.
func rateLimitAcross(t *testing.T, c *cluster, ctr counters, lastOctet int) {
	const window = time.Hour
	for attempt := range 2 {
		ip := fmt.Sprintf("127.0.0.%d", lastOctet+100*attempt)
		a, b := c.a.client(t, ip), c.b.client(t, ip)
		start := time.Now()
		for i := range 10 {
			n := []*gen.ClientWithResponses{a, b}[i%2]
			r := signInRaw(t, c, n, fmt.Sprintf("nobody-%d@example.com", i), "wrong-password-x")
			if r.StatusCode() != http.StatusUnauthorized {
				t.Fatalf("sign-in %d: %d %s, want 401 (not yet limited)", i+1, r.StatusCode(), r.Body)
			}
		}
		limitedOn := func(name string, n *gen.ClientWithResponses) {
			t.Helper()
			r := signInRaw(t, c, n, "nobody-more@example.com", "wrong-password-x")
			if r.StatusCode() != http.StatusTooManyRequests || r.JSON429 == nil {
				t.Fatalf("sign-in 11 on %s: %d %s, want 429", name, r.StatusCode(), r.Body)
			}
			if ra, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
				t.Fatalf("Retry-After %q on %s, want 1..3600", r.HTTPResponse.Header.Get("Retry-After"), name)
			}
		}
		limitedOn("A", a)
		limitedOn("B", b)
		end := time.Now()
		if start.Unix()/int64(window.Seconds()) != end.Unix()/int64(window.Seconds()) {
			t.Logf("the case straddled a window boundary; again from another address")
			continue
		}
		wantCountedIn(t, c, ctr, "signin|ip:"+ip, 12)
		return
	}
	t.Fatal("two attempts straddled window boundaries")
}

// passwordCheckAcross: wrong previous_passwords to WME's change-password, whose token travels in
// the body, from nine addresses alternating between A and B, spend the account's sign-in
// allowance of 10 together with its log-in; the next is refused on either instance, and the
// count is the account's, kept where the configuration says.
func passwordCheckAcross(t *testing.T, c *cluster, ctr counters) {
	const window, pw = time.Hour, "correct-horse-battery-5"
	net := map[counters]int{inDatabase: 1, inRedis: 2}[ctr] // 127.0.<net>.x: addresses no other case uses
	for attempt := range 2 {
		ip := func(host int) string { return fmt.Sprintf("127.0.%d.%d", net, 100*attempt+host) }
		email := fmt.Sprintf("change-%d@example.com", attempt)
		a := c.a.client(t, ip(1))
		start := time.Now()
		signUp(t, c, a, email, pw)
		login, err := a.WmeLoginWithResponse(context.Background(), gen.WmeLoginJSONRequestBody{Username: email, Password: pw})
		if err != nil || login.JSON200 == nil || login.JSON200.AccessToken == nil {
			t.Fatalf("wme login: %v %d %s", err, login.StatusCode(), login.Body)
		}
		token := *login.JSON200.AccessToken
		c.secret(token)
		change := func(n *node, host int) *gen.WmeChangePasswordResult {
			t.Helper()
			r, err := n.client(t, ip(host)).WmeChangePasswordWithResponse(context.Background(), gen.WmeChangePasswordJSONRequestBody{
				AccessToken: token, PreviousPassword: "wrong-password-x", ProposedPassword: "a-new-password-0123"})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		for i := range 9 {
			if r := change([]*node{c.a, c.b}[i%2], 10+i); r.StatusCode() != http.StatusUnauthorized {
				t.Fatalf("wrong previous_password %d: %d %s, want 401 (not yet limited)", i+1, r.StatusCode(), r.Body)
			}
		}
		for i, n := range []*node{c.a, c.b} {
			r := change(n, 30+i)
			if r.StatusCode() != http.StatusTooManyRequests || r.JSON429 == nil || r.JSON429.Message != "Too many password attempts for this account" {
				t.Fatalf("on %s from a tenth address: %d %s, want 429 for the account", []string{"A", "B"}[i], r.StatusCode(), r.Body)
			}
		}
		if start.Unix()/int64(window.Seconds()) != time.Now().Unix()/int64(window.Seconds()) {
			t.Logf("the case straddled a window boundary; again with another account")
			continue
		}
		sum := sha256.Sum256([]byte(email))
		wantCountedIn(t, c, ctr, "signin|to:"+hex.EncodeToString(sum[:16]), 12)
		return
	}
	t.Fatal("two attempts straddled window boundaries")
}

// wantCountedIn checks where the count of key is, and that it is want.
func wantCountedIn(t *testing.T, c *cluster, ctr counters, key string, want int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dbHits int64
	err = conn.QueryRow(ctx, `SELECT hits FROM rate_limits WHERE key = $1`, key).Scan(&dbHits)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	if ctr == inDatabase {
		if dbHits != want {
			t.Fatalf("database count of %s = %d, want %d", key, dbHits, want)
		}
		return
	}
	if err != pgx.ErrNoRows {
		t.Fatalf("with Redis configured the database counts %s too (%d)", key, dbHits)
	}
	rdb := redistest.Client(t)
	keys, err := rdb.Keys(ctx, c.redisPrefix+"rl:"+key+":*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("redis keys for %s: %v %v, want one", key, keys, err)
	}
	if n, err := rdb.Get(ctx, keys[0]).Int64(); err != nil || n != want {
		t.Fatalf("redis count of %s = %d (%v), want %d", key, n, err, want)
	}
}

// lockoutAcross: wrong passwords alternating between A and B lock the account (for this address)
// on both; an admin clears the lock on A and B accepts the right password.
func lockoutAcross(t *testing.T, c *cluster, ip string) {
	a, b := c.a.client(t, ip), c.b.client(t, ip)
	const email, pw = "locked@example.com", "correct-horse-battery-4"
	up := signUp(t, c, a, email, pw)
	for i, n := range []*gen.ClientWithResponses{a, b, a} {
		if r := signInRaw(t, c, n, email, "wrong-password-y"); r.StatusCode() != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i+1, r.StatusCode(), r.Body)
		}
	}
	for name, n := range map[string]*gen.ClientWithResponses{"A": a, "B": b} {
		r := signInRaw(t, c, n, email, pw)
		if r.StatusCode() != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "failed sign-ins") {
			t.Fatalf("right password on %s while locked: %d %s, want 429 naming the lock", name, r.StatusCode(), r.Body)
		}
		if ra, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 15*60 {
			t.Fatalf("Retry-After %q on %s, want 1..900", r.HTTPResponse.Header.Get("Retry-After"), name)
		}
	}
	id := uuid.MustParse(up.User.Id)
	res, err := a.AdminClearUserLockWithResponse(context.Background(), id, adminHeader)
	if err != nil || res.StatusCode() != http.StatusNoContent {
		t.Fatalf("admin clears the lock on A: %v %d %s", err, res.StatusCode(), res.Body)
	}
	signIn(t, c, b, email, pw)
}

// ticketAcross: a password-reset ticket requested on A (and mailed by whichever instance
// delivers it) is spent on B; it then works nowhere, and A accepts the new password.
func ticketAcross(t *testing.T, c *cluster, ip string) {
	a, b := c.a.client(t, ip), c.b.client(t, ip)
	const email, pw, newPW = "reset@example.com", "correct-horse-battery-5", "a-brand-new-password-5"
	c.secret(newPW)
	signUp(t, c, a, email, pw)
	req, err := a.SendPasswordResetEmailWithResponse(context.Background(), gen.SendPasswordResetEmailJSONRequestBody{Email: openapi_types.Email(email)})
	if err != nil || req.StatusCode() != http.StatusOK {
		t.Fatalf("reset request on A: %v %d %s", err, req.StatusCode(), req.Body)
	}
	ticket := ticketOf(t, c.mail.Next(t, email))
	c.secret(ticket)
	set := func(n *gen.ClientWithResponses) *gen.ChangeUserPasswordResult {
		t.Helper()
		r, err := n.ChangeUserPasswordWithResponse(context.Background(), gen.ChangeUserPasswordJSONRequestBody{NewPassword: newPW, Ticket: &ticket})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := set(b); r.StatusCode() != http.StatusOK {
		t.Fatalf("ticket from A spent on B: %d %s", r.StatusCode(), r.Body)
	}
	if r := set(a); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("the spent ticket again on A: %d %s, want 401", r.StatusCode(), r.Body)
	}
	signIn(t, c, a, email, newPW)
	if r := signInRaw(t, c, a, email, pw); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("the old password on A: %d %s", r.StatusCode(), r.Body)
	}
}

// readyz: both instances are ready, and report Redis when the counters are there.
func readyz(t *testing.T, c *cluster, ctr counters) {
	for _, n := range []*node{c.a, c.b} {
		r, err := n.client(t, "127.0.0.1").OpsReadyzWithResponse(context.Background())
		if err != nil || r.JSON200 == nil || r.JSON200.Checks == nil {
			t.Fatalf("readyz on %s: %v %d %s", n.name, err, r.StatusCode(), r.Body)
		}
		got, has := (*r.JSON200.Checks)["redis"]
		if (ctr == inRedis) != has || (has && got != "ok") {
			t.Fatalf("readyz on %s with counters in %s: checks %v", n.name, ctr, *r.JSON200.Checks)
		}
	}
}

// keyRotation: `latchkey keys rotate`, run by an operator against the shared database, makes a
// key that A and B sign with after their reload interval (1s here); tokens of the old key still
// verify on both, and both publish both keys.
func keyRotation(t *testing.T, c *cluster, ip string) {
	a, b := c.a.client(t, ip), c.b.client(t, ip)
	old := signUp(t, c, a, "rotate@example.com", "correct-horse-battery-6")
	oldKid := kidOf(t, old.AccessToken)
	out := strings.Fields(c.latchkeyCmd(t, "keys", "rotate"))
	if len(out) == 0 {
		t.Fatal("keys rotate printed nothing")
	}
	kid := out[len(out)-1]
	if kid == oldKid {
		t.Fatalf("rotation kept the kid %s", kid)
	}
	// Follow one session through refreshes on each instance until its tokens carry the new kid.
	token := old.RefreshToken
	for _, n := range []struct {
		name string
		c    *gen.ClientWithResponses
	}{{"A", a}, {"B", b}} {
		eventually(t, 20*time.Second, n.name+" signs with the rotated key "+kid, func() bool {
			r := refresh(t, c, n.c, token)
			if r.JSON200 == nil {
				t.Fatalf("refresh on %s: %d %s", n.name, r.StatusCode(), r.Body)
			}
			token = r.JSON200.RefreshToken
			return kidOf(t, r.JSON200.AccessToken) == kid
		})
	}
	for _, n := range []struct {
		name string
		c    *gen.ClientWithResponses
	}{{"A", a}, {"B", b}} {
		wantUser(t, n.c, old.AccessToken, http.StatusOK) // signed with the previous key
		set, err := n.c.GetJWKsWithResponse(context.Background())
		if err != nil || set.JSON200 == nil {
			t.Fatalf("JWKS on %s: %v", n.name, err)
		}
		var kids []string
		for _, k := range set.JSON200.Keys {
			kids = append(kids, k.Kid)
		}
		if !slices.Contains(kids, kid) || !slices.Contains(kids, oldKid) {
			t.Fatalf("JWKS on %s has %v, want %s and %s", n.name, kids, kid, oldKid)
		}
	}
}

// --- Nhost calls

func bearer(token string) gen.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func signUp(t *testing.T, c *cluster, n *gen.ClientWithResponses, email, pw string) gen.Session {
	t.Helper()
	c.secret(pw)
	r, err := n.SignUpEmailPasswordWithResponse(context.Background(), gen.SignUpEmailPasswordJSONRequestBody{Email: openapi_types.Email(email), Password: pw})
	if err != nil || r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("sign up %s: %v %d %s", email, err, r.StatusCode(), r.Body)
	}
	c.secret(r.JSON200.Session.AccessToken, r.JSON200.Session.RefreshToken)
	return *r.JSON200.Session
}

func signInRaw(t *testing.T, c *cluster, n *gen.ClientWithResponses, email, pw string) *gen.SignInEmailPasswordResult {
	t.Helper()
	c.secret(pw)
	r, err := n.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{Email: openapi_types.Email(email), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 != nil && r.JSON200.Session != nil {
		c.secret(r.JSON200.Session.AccessToken, r.JSON200.Session.RefreshToken)
	}
	return r
}

func signIn(t *testing.T, c *cluster, n *gen.ClientWithResponses, email, pw string) gen.Session {
	t.Helper()
	r := signInRaw(t, c, n, email, pw)
	if r.JSON200 == nil || r.JSON200.Session == nil {
		t.Fatalf("sign in %s: %d %s", email, r.StatusCode(), r.Body)
	}
	return *r.JSON200.Session
}

func refresh(t *testing.T, c *cluster, n *gen.ClientWithResponses, token string) *gen.RefreshTokenResult {
	t.Helper()
	r, err := n.RefreshTokenWithResponse(context.Background(), gen.RefreshTokenJSONRequestBody{RefreshToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 != nil {
		c.secret(r.JSON200.AccessToken, r.JSON200.RefreshToken)
	}
	return r
}

// revocationBound is the servers' LATCHKEY_REVOCATION_BOUND (its default).
const revocationBound = 250 * time.Millisecond

// wantRefusedWithin asks n for the user of access until it answers 401, and fails if that took
// longer than bound after the first ask (plus the last request's own time): how long another
// instance may go on serving a revoked session from its cache.
func wantRefusedWithin(t *testing.T, n *gen.ClientWithResponses, access string, bound time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		asked := time.Now()
		r, err := n.GetUserWithResponse(context.Background(), bearer(access))
		if err != nil {
			t.Fatalf("GET /v1/user: %v", err)
		}
		switch r.StatusCode() {
		case http.StatusUnauthorized:
			return
		case http.StatusOK:
			if asked.Sub(start) > bound {
				t.Fatalf("GET /v1/user still answered 200 %s after the revocation (bound %s)", asked.Sub(start), bound)
			}
		default:
			t.Fatalf("GET /v1/user: %d %s, want 200 then 401", r.StatusCode(), r.Body)
		}
	}
}

func wantUser(t *testing.T, n *gen.ClientWithResponses, access string, want int) {
	t.Helper()
	r, err := n.GetUserWithResponse(context.Background(), bearer(access))
	if err != nil || r.StatusCode() != want {
		t.Fatalf("GET /v1/user: %v %d %s, want %d", err, r.StatusCode(), r.Body, want)
	}
}
