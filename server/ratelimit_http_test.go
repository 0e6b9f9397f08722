package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// Rate limits and sign-in lockout over real HTTP. Requests come from chosen loopback addresses
// (127.0.0.x, all of which reach the test server), so the server sees distinct client addresses
// without trusting any forwarded header.

// tightLimits opts a test in to small allowances; lockout stays off unless the test asks.
func tightLimits(signin, mail int) func(*server.Config) {
	return func(c *server.Config) {
		c.RateLimitGroups = map[string]server.RateLimit{
			server.LimitSignIn: {Requests: signin, Window: time.Minute},
			server.LimitMail:   {Requests: mail, Window: time.Minute},
		}
		c.LockoutThreshold = 0
	}
}

// answer is one HTTP answer, its JSON body decoded.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// from sends a JSON body to h from the loopback address ip.
func from(t *testing.T, h *servertest.Harness, ip, method, path string, body any) answer {
	t.Helper()
	return fromWith(t, h, ip, nil, method, path, body)
}

// fromWith is from with request headers (X-Forwarded-For, for a server that trusts loopback).
func fromWith(t *testing.T, h *servertest.Harness, ip string, header map[string]string, method, path string, body any) answer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, path, ip, err)
	}
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// limitDialect is one dialect's password sign-in and how its 429 looks.
type limitDialect struct {
	name  string
	path  string
	body  func(login, password string) any
	check func(t *testing.T, a answer, message string) // the dialect's 429 body
}

var limitDialects = []limitDialect{
	{"nhost", "/v1/signin/email-password",
		func(l, p string) any { return map[string]string{"email": l, "password": p} },
		func(t *testing.T, a answer, msg string) {
			if a.body["status"] != float64(429) || a.body["error"] != "too-many-requests" || a.body["message"] != msg {
				t.Errorf("nhost body %s, want too-many-requests %q", a.raw, msg)
			}
		}},
	{"wme", "/v1/login",
		func(l, p string) any { return map[string]string{"username": l, "password": p} },
		func(t *testing.T, a answer, msg string) {
			if a.body["status"] != float64(429) || a.body["message"] != msg || len(a.body) != 2 {
				t.Errorf("wme body %s, want {message %q, status 429}", a.raw, msg)
			}
		}},
	{"zesty", "/login",
		func(l, p string) any { return map[string]string{"email": l, "password": p} },
		func(t *testing.T, a answer, msg string) {
			if a.body["code"] != float64(429) || a.body["error"] != "rate-limited" || a.body["message"] != msg {
				t.Errorf("zesty body %s, want {code 429, error rate-limited, message %q}", a.raw, msg)
			}
		}},
	{"az", "/sign_in",
		func(l, p string) any { return map[string]string{"email": l, "password": p} },
		func(t *testing.T, a answer, msg string) {
			if a.body["error"] != msg || len(a.body) != 1 {
				t.Errorf("az body %s, want {error %q}", a.raw, msg)
			}
		}},
}

// wantLimited checks a 429: Retry-After within (0, max] seconds and the dialect's body.
func wantLimited(t *testing.T, d limitDialect, a answer, msg string, maxWait int) {
	t.Helper()
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d (%s), want 429", d.name, a.status, a.raw)
	}
	ra, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > maxWait {
		t.Errorf("%s: Retry-After %q, want 1..%d", d.name, a.header.Get("Retry-After"), maxWait)
	}
	d.check(t, a, msg)
}

func wantNotLimited(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status == http.StatusTooManyRequests || a.status >= 500 {
		t.Fatalf("%s: status %d (%s)", what, a.status, a.raw)
	}
}

// TestRateLimitSignIn: in each dialect's sign-in, an address is limited whatever accounts it
// tries, an account is limited whatever addresses try it, a refused request writes nothing but
// its count (servertest.Counters), and the next window lets both through again.
func TestRateLimitSignIn(t *testing.T) {
	for _, d := range limitDialects {
		t.Run("dialect="+d.name, func(t *testing.T) {
			t.Parallel()
			h := servertest.Start(t, tightLimits(3, 3))
			// Per address: three different accounts from one address, then the fourth is refused.
			for i := range 3 {
				wantNotLimited(t, "per address", from(t, h, "127.0.0.1", http.MethodPost, d.path, d.body("nobody"+strconv.Itoa(i)+"@example.com", "wrong-password")))
			}
			h.NoWrites(t, func() {
				a := from(t, h, "127.0.0.1", http.MethodPost, d.path, d.body("other@example.com", "wrong-password"))
				wantLimited(t, d, a, "Too many sign-in attempts from this address", 60)
			})
			// Per account: one account from three addresses, then a fourth address is refused.
			for i := 2; i <= 4; i++ {
				wantNotLimited(t, "per account", from(t, h, "127.0.0."+strconv.Itoa(i), http.MethodPost, d.path, d.body("victim@example.com", "wrong-password")))
			}
			a := from(t, h, "127.0.0.5", http.MethodPost, d.path, d.body("Victim@Example.com", "wrong-password"))
			wantLimited(t, d, a, "Too many sign-in attempts for this account", 60)
			// The next window starts afresh.
			h.Clock.Advance(time.Minute)
			wantNotLimited(t, "next window, address", from(t, h, "127.0.0.1", http.MethodPost, d.path, d.body("other@example.com", "wrong-password")))
			wantNotLimited(t, "next window, account", from(t, h, "127.0.0.6", http.MethodPost, d.path, d.body("victim@example.com", "wrong-password")))
		})
	}
}

// TestRateLimitMailBombing: one address cannot be mailed without end, however many client
// addresses ask; other recipients are unaffected, and only allowed requests send mail.
func TestRateLimitMailBombing(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, tightLimits(100, 2))
	signUp(t, h, "victim@example.com", "correct-horse-battery")
	reset := func(ip, email string) answer {
		return from(t, h, ip, http.MethodPost, "/v1/user/password/reset", map[string]string{"email": email})
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if a := reset(ip, "victim@example.com"); a.status != http.StatusOK {
			t.Fatalf("reset from %s: %d %s", ip, a.status, a.raw)
		}
	}
	for _, ip := range []string{"127.0.0.4", "127.0.0.5", "127.0.0.6"} {
		a := reset(ip, "victim@example.com")
		wantLimited(t, limitDialects[0], a, "Too many emails for this account", 60)
	}
	if a := reset("127.0.0.7", "someone-else@example.com"); a.status != http.StatusOK {
		t.Fatalf("another recipient: %d %s", a.status, a.raw)
	}
	// The same recipient from WME's forgot-password shares the mail group's count.
	wme := limitDialect{name: "wme", check: limitDialects[1].check}
	wantLimited(t, wme, from(t, h, "127.0.0.8", http.MethodPost, "/v1/forgot-password", map[string]string{"username": "victim@example.com"}),
		"Too many emails for this account", 60)
	h.Clock.Advance(time.Minute)
	if a := reset("127.0.0.9", "victim@example.com"); a.status != http.StatusOK {
		t.Fatalf("next window: %d %s", a.status, a.raw)
	}
}

// lockoutConfig: three wrong passwords from one address lock it out for 15 minutes, doubling
// up to an hour; five from anywhere lock the account for two minutes. Rate limits are off so
// only the lockout speaks.
func lockoutConfig(c *server.Config) {
	c.RateLimits = false
	c.LockoutThreshold, c.LockoutDuration, c.LockoutMaxDuration = 3, 15*time.Minute, time.Hour
	c.LockoutAccountThreshold, c.LockoutAccountDuration = 5, 2*time.Minute
	c.AdminSecret = testAdminSecret
}

func nhostSignIn(t *testing.T, h *servertest.Harness, ip, email, password string) answer {
	t.Helper()
	return from(t, h, ip, http.MethodPost, "/v1/signin/email-password", map[string]string{"email": email, "password": password})
}

// TestLockout: the right password is refused while a lock lasts, from the locked address only;
// the lock ends on its own and doubles on the next failure; a successful sign-in resets the
// count; an admin clears a lock, audited; many addresses lock the account only briefly.
func TestLockout(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, lockoutConfig)
	const email, pw = "owner@example.com", "correct-horse-battery"
	id := uuid.MustParse(signUp(t, h, email, pw).User.Id)
	nhost := limitDialects[0]
	fail := func(ip string, n int) {
		t.Helper()
		for range n {
			if a := nhostSignIn(t, h, ip, email, "wrong-password"); a.status != http.StatusUnauthorized {
				t.Fatalf("wrong password from %s: %d %s", ip, a.status, a.raw)
			}
		}
	}
	ok := func(ip string) {
		t.Helper()
		if a := nhostSignIn(t, h, ip, email, pw); a.status != http.StatusOK {
			t.Fatalf("right password from %s: %d %s", ip, a.status, a.raw)
		}
	}
	fromHere := "Too many failed sign-ins for this account from this address"

	// Two failures, then success: the count starts again, so two more do not lock.
	fail("127.0.0.1", 2)
	ok("127.0.0.1")
	fail("127.0.0.1", 2)
	ok("127.0.0.1")

	// Three failures lock this address: the right password is refused, writing nothing.
	fail("127.0.0.1", 3)
	h.NoWrites(t, func() {
		wantLimited(t, nhost, nhostSignIn(t, h, "127.0.0.1", email, pw), fromHere, 15*60)
	})
	ok("127.0.0.2") // the owner elsewhere is not locked out
	h.Clock.Advance(15*time.Minute + time.Second)
	// The lock is over, but the failures are remembered: one more doubles it.
	fail("127.0.0.1", 1)
	a := nhostSignIn(t, h, "127.0.0.1", email, pw)
	wantLimited(t, nhost, a, fromHere, 30*60)
	if ra, _ := strconv.Atoi(a.header.Get("Retry-After")); ra <= 15*60 {
		t.Errorf("second lock lasts %ds, want it doubled past 15m", ra)
	}

	// An admin clears the lock; it is audited.
	st, body := h.Do(t, http.MethodDelete, "/v1/admin/users/"+id.String()+"/lock", map[string]string{"X-Admin-Secret": testAdminSecret}, "")
	if st != http.StatusNoContent {
		t.Fatalf("clear lock: %d %s", st, body)
	}
	ok("127.0.0.1")
	st, body = h.Do(t, http.MethodGet, "/v1/admin/audit?action=admin.user_lock_clear&targetUserId="+id.String(), map[string]string{"X-Admin-Secret": testAdminSecret}, "")
	if st != http.StatusOK || !strings.Contains(string(body), `"admin.user_lock_clear"`) {
		t.Fatalf("audit of the clear: %d %s", st, body)
	}

	// Five failures from five addresses lock the account everywhere, for two minutes only.
	for i := 10; i < 15; i++ {
		fail("127.0.0."+strconv.Itoa(i), 1)
	}
	wantLimited(t, nhost, nhostSignIn(t, h, "127.0.0.20", email, pw), "Too many failed sign-ins for this account", 120)
	h.Clock.Advance(2*time.Minute + time.Second)
	ok("127.0.0.20")
}

// TestLimitsAcrossInstances: two servers on one database share rate-limit counts and locks.
func TestLimitsAcrossInstances(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, tightLimits(3, 3), func(c *server.Config) {
		c.LockoutThreshold, c.LockoutDuration, c.LockoutMaxDuration = 2, time.Minute, time.Hour
	})
	other := h.Another(t, tightLimits(3, 3), func(c *server.Config) {
		c.LockoutThreshold, c.LockoutDuration, c.LockoutMaxDuration = 2, time.Minute, time.Hour
	})
	signUp(t, h, "shared@example.com", "correct-horse-battery")
	// Rate limit: two requests on A and one on B spend the allowance; B refuses the fourth.
	for i, srv := range []*servertest.Harness{h, h, other} {
		wantNotLimited(t, "request "+strconv.Itoa(i), nhostSignIn(t, srv, "127.0.0.1", "nobody"+strconv.Itoa(i)+"@example.com", "x-wrong-password"))
	}
	wantLimited(t, limitDialects[0], nhostSignIn(t, other, "127.0.0.1", "nobody@example.com", "x-wrong-password"), "Too many sign-in attempts from this address", 60)
	// Lockout: two failures on A lock the address on B.
	nhostSignIn(t, h, "127.0.0.2", "shared@example.com", "wrong-password")
	nhostSignIn(t, other, "127.0.0.2", "shared@example.com", "wrong-password")
	wantLimited(t, limitDialects[0], nhostSignIn(t, h, "127.0.0.2", "shared@example.com", "correct-horse-battery"),
		"Too many failed sign-ins for this account from this address", 60)
}

// TestRateLimitsOff: with rate limits off, nothing is counted.
func TestRateLimitsOff(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, tightLimits(1, 1), func(c *server.Config) { c.RateLimits = false })
	for range 3 {
		wantNotLimited(t, "limits off", nhostSignIn(t, h, "127.0.0.1", "nobody@example.com", "wrong-password"))
	}
}

// TestAdminClearUserLockNegative: no or garbage credentials, a malformed or unknown id: the
// admin error shape, and nothing written.
func TestAdminClearUserLockNegative(t *testing.T) {
	t.Parallel()
	h := servertest.Start(t, adminSecretOn)
	id := signUp(t, h, "someone@example.com", "correct-horse-battery").User.Id
	for _, c := range []struct {
		name, path string
		header     map[string]string
		status     int
		code       string
	}{
		{"no-credentials", "/v1/admin/users/" + id + "/lock", nil, 401, "unauthenticated"},
		{"garbage-secret", "/v1/admin/users/" + id + "/lock", map[string]string{"X-Admin-Secret": "garbage"}, 401, "unauthenticated"},
		{"garbage-bearer", "/v1/admin/users/" + id + "/lock", map[string]string{"Authorization": "Bearer garbage"}, 401, "unauthenticated"},
		{"not-a-uuid", "/v1/admin/users/not-a-uuid/lock", map[string]string{"X-Admin-Secret": testAdminSecret}, 400, "invalid-request"},
		{"unknown-user", "/v1/admin/users/" + uuid.NewString() + "/lock", map[string]string{"X-Admin-Secret": testAdminSecret}, 404, "not-found"},
	} {
		t.Run("case="+c.name, func(t *testing.T) {
			h.NoWrites(t, func() {
				st, body := h.Do(t, http.MethodDelete, c.path, c.header, "")
				adminErr(t, st, body, c.status, c.code)
			})
		})
	}
	// A user with no lock: 204, audited.
	st, body := h.Do(t, http.MethodDelete, "/v1/admin/users/"+id+"/lock", map[string]string{"X-Admin-Secret": testAdminSecret}, "")
	if st != http.StatusNoContent {
		t.Fatalf("clear without a lock: %d %s", st, body)
	}
}

// viaProxy trusts the loopback address the tests dial from, so X-Forwarded-For names the client.
func viaProxy(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1"} }

// forwardedSignIn is a Nhost sign-in from client, as the trusted proxy on 127.0.0.1 reports it.
func forwardedSignIn(t *testing.T, h *servertest.Harness, client, email, password string) answer {
	t.Helper()
	return fromWith(t, h, "127.0.0.1", map[string]string{"X-Forwarded-For": client}, http.MethodPost,
		"/v1/signin/email-password", map[string]string{"email": email, "password": password})
}

// TestRateLimitIPv6Prefix: IPv6 clients are counted by their network (a /64 by default), so the
// many addresses one network holds share one allowance and one lockout; another /64 has its own;
// an IPv4-mapped address counts as its IPv4 address; a prefix of 128 counts every address alone.
func TestRateLimitIPv6Prefix(t *testing.T) {
	nhost := limitDialects[0]
	fromAddr := "Too many sign-in attempts from this address"
	t.Run("case=one-64-one-allowance", func(t *testing.T) {
		t.Parallel()
		h := servertest.Start(t, tightLimits(3, 3), viaProxy)
		for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
			wantNotLimited(t, ip, forwardedSignIn(t, h, ip, "nobody"+strconv.Itoa(i)+"@example.com", "wrong-password"))
		}
		wantLimited(t, nhost, forwardedSignIn(t, h, "2001:db8:1:2:ffff:ffff:ffff:ffff", "other@example.com", "wrong-password"), fromAddr, 60)
		wantNotLimited(t, "another /64", forwardedSignIn(t, h, "2001:db8:1:3::1", "other@example.com", "wrong-password"))
	})
	t.Run("case=ipv4-mapped-is-ipv4", func(t *testing.T) {
		t.Parallel()
		h := servertest.Start(t, tightLimits(3, 3), viaProxy)
		for i, ip := range []string{"::ffff:192.0.2.1", "192.0.2.1", "::ffff:c000:201"} {
			wantNotLimited(t, ip, forwardedSignIn(t, h, ip, "nobody"+strconv.Itoa(i)+"@example.com", "wrong-password"))
		}
		wantLimited(t, nhost, forwardedSignIn(t, h, "192.0.2.1", "other@example.com", "wrong-password"), fromAddr, 60)
		wantNotLimited(t, "the next IPv4 address", forwardedSignIn(t, h, "192.0.2.2", "other@example.com", "wrong-password"))
	})
	t.Run("case=prefix-128", func(t *testing.T) {
		t.Parallel()
		h := servertest.Start(t, tightLimits(3, 3), viaProxy, func(c *server.Config) { c.RateLimitIPv6Prefix = 128 })
		for i := range 5 {
			ip := "2001:db8:1:2::" + strconv.Itoa(i+1)
			wantNotLimited(t, ip, forwardedSignIn(t, h, ip, "nobody"+strconv.Itoa(i)+"@example.com", "wrong-password"))
		}
	})
	t.Run("case=lockout-by-64", func(t *testing.T) {
		t.Parallel()
		h := servertest.Start(t, lockoutConfig, viaProxy)
		const email, pw = "owner@example.com", "correct-horse-battery"
		signUp(t, h, email, pw)
		for _, ip := range []string{"2001:db8:9:9::1", "2001:db8:9:9::2", "2001:db8:9:9::3"} {
			if a := forwardedSignIn(t, h, ip, email, "wrong-password"); a.status != http.StatusUnauthorized {
				t.Fatalf("wrong password from %s: %d %s", ip, a.status, a.raw)
			}
		}
		wantLimited(t, nhost, forwardedSignIn(t, h, "2001:db8:9:9::4", email, pw), "Too many failed sign-ins for this account from this address", 15*60)
		if a := forwardedSignIn(t, h, "2001:db8:9:a::1", email, pw); a.status != http.StatusOK {
			t.Fatalf("right password from another /64: %d %s", a.status, a.raw)
		}
	})
}

// lockStep is one wrong sign-in of a sequence: from which address, after moving the clock.
type lockStep struct {
	ip      string
	advance time.Duration
}

// seen is what a client can tell of one answer: status, body and Retry-After.
func seen(a answer) string {
	return fmt.Sprintf("%d %s Retry-After=%q", a.status, bytes.TrimSpace(a.raw), a.header.Get("Retry-After"))
}

// TestLockoutHidesAccounts: a lockout tells no one which addresses have accounts. In every
// dialect's password sign-in, in conceal mode and out of it, wrong passwords for an address with
// an account and for one without get the same answers at every step: the same status, body and
// Retry-After, through the lock from one address, its doubling, the account-wide lock and their
// ends.
func TestLockoutHidesAccounts(t *testing.T) {
	repeat := func(ip string, n int) []lockStep {
		out := make([]lockStep, n)
		for i := range out {
			out[i] = lockStep{ip: ip}
		}
		return out
	}
	// Defaults: 12 wrong passwords from one address, the last two past the lock.
	defaults := repeat("127.0.0.1", 12)
	// lockoutConfig: 3 from one address lock it; the lock ends and doubles; 5 from anywhere lock
	// the account briefly.
	small := append(repeat("127.0.0.1", 4), lockStep{"127.0.0.1", 15*time.Minute + time.Second})
	small = append(small, lockStep{"127.0.0.1", 0}, lockStep{"127.0.0.2", 0}, lockStep{"127.0.0.3", 0},
		lockStep{"127.0.0.4", 0}, lockStep{"127.0.0.5", 0}, lockStep{"127.0.0.6", 2*time.Minute + time.Second},
		lockStep{"127.0.0.6", 0})
	for _, d := range limitDialects {
		for _, conceal := range []bool{false, true} {
			for _, c := range []struct {
				name  string
				opts  []func(*server.Config)
				steps []lockStep
			}{
				{"defaults", nil, defaults},
				{"small", []func(*server.Config){lockoutConfig}, small},
			} {
				t.Run(fmt.Sprintf("dialect=%s/conceal=%v/config=%s", d.name, conceal, c.name), func(t *testing.T) {
					t.Parallel()
					h := servertest.Start(t, append(c.opts, func(cfg *server.Config) { cfg.ConcealErrors = conceal })...)
					signUp(t, h, "known@example.com", "correct-horse-battery")
					var known, unknown []string
					limited := false
					for _, s := range c.steps {
						h.Clock.Advance(s.advance)
						k := from(t, h, s.ip, http.MethodPost, d.path, d.body("known@example.com", "wrong-password"))
						u := from(t, h, s.ip, http.MethodPost, d.path, d.body("unknown@example.com", "wrong-password"))
						known, unknown = append(known, seen(k)), append(unknown, seen(u))
						limited = limited || k.status == http.StatusTooManyRequests
					}
					if !limited {
						t.Fatalf("the sequence never met the lock: %q", known)
					}
					for i := range known {
						if known[i] != unknown[i] {
							t.Errorf("step %d (%s): an account answers %s\nno account answers %s", i+1, c.steps[i].ip, known[i], unknown[i])
						}
					}
				})
			}
		}
	}
}

// wantStatus fails unless a has the status.
func wantStatus(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d (%s), want %d", what, a.status, a.raw, status)
	}
}

// wantLimitedAs checks a 429 whatever the dialect: Retry-After within (0, max] seconds and
// message in the body's message (or, for Authentication Zero, its error).
func wantLimitedAs(t *testing.T, what string, a answer, msg string, maxWait int) {
	t.Helper()
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d (%s), want 429", what, a.status, a.raw)
	}
	if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 || ra > maxWait {
		t.Errorf("%s: Retry-After %q, want 1..%d", what, a.header.Get("Retry-After"), maxWait)
	}
	if a.body["message"] != msg && a.body["error"] != msg {
		t.Errorf("%s: body %s, want the message %q", what, a.raw, msg)
	}
}

// passwordChecks are the operations that check the password of a caller named by a token, for
// TestPasswordChecksShareLimits.
type passwordChecks struct {
	t       *testing.T
	h       *servertest.Harness
	wmeTok  string // a WME access token (it travels in the body)
	azTok   string // an Authentication Zero session token
	current string
}

func (p passwordChecks) wmeChange(ip, previous string) answer {
	p.t.Helper()
	return from(p.t, p.h, ip, http.MethodPost, "/v1/change-password", map[string]string{
		"access_token": p.wmeTok, "previous_password": previous, "proposed_password": "a-new-password-0123"})
}

func (p passwordChecks) azChange(ip, current string) answer {
	p.t.Helper()
	return fromWith(p.t, p.h, ip, map[string]string{"Authorization": "Bearer " + p.azTok}, http.MethodPut, "/password",
		map[string]string{"current_password": current, "password": "a-new-password-0123"})
}

func (p passwordChecks) azEmail(ip, current string) answer {
	p.t.Helper()
	return fromWith(p.t, p.h, ip, map[string]string{"Authorization": "Bearer " + p.azTok}, http.MethodPut, "/identity/email",
		map[string]string{"current_password": current, "email": "moved@example.com"})
}

// startPasswordChecks makes the account editor / editor@example.com and signs it in through WME
// and Authentication Zero from 127.0.0.1, then starts a new rate-limit window.
func startPasswordChecks(t *testing.T, opts ...func(*server.Config)) passwordChecks {
	const pw = "correct-horse-battery"
	h := servertest.Start(t, opts...)
	wmeUser(t, h, "editor", "editor@example.com", pw)
	p := passwordChecks{t: t, h: h, current: pw}
	w := from(t, h, "127.0.0.1", http.MethodPost, "/v1/login", map[string]string{"username": "editor", "password": pw})
	wantStatus(t, "wme login", w, http.StatusOK)
	p.wmeTok, _ = w.body["access_token"].(string)
	a := from(t, h, "127.0.0.1", http.MethodPost, "/sign_in", map[string]string{"email": "editor@example.com", "password": pw})
	wantStatus(t, "az sign in", a, http.StatusCreated)
	p.azTok = a.header.Get("X-Session-Token")
	if p.wmeTok == "" || p.azTok == "" {
		t.Fatalf("no tokens: %q %q", w.raw, a.header)
	}
	h.Clock.Advance(time.Minute) // the sign-ins above counted in the window before
	return p
}

// TestPasswordChecksShareLimits: every operation that checks a password counts against the
// account's rate limit and lockout, whichever way it names the caller: WME's change-password
// (its token travels in the body, out of the limiter's sight), Authentication Zero's password
// and address changes (a session token), and the sign-ins of every dialect share one count.
func TestPasswordChecksShareLimits(t *testing.T) {
	const perAccount = "Too many password attempts for this account"
	t.Run("case=wme-change-password-rate-limit", func(t *testing.T) {
		t.Parallel()
		p := startPasswordChecks(t, tightLimits(3, 3))
		for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			wantStatus(t, "wrong previous_password from "+ip, p.wmeChange(ip, "wrong-password"), http.StatusUnauthorized)
		}
		p.h.NoWrites(t, func() {
			wantLimitedAs(t, "the fourth address", p.wmeChange("127.0.0.5", "wrong-password"), perAccount, 60)
		})
		// The count is the account's, under each of its names.
		wantLimitedAs(t, "sign-in by address", nhostSignIn(t, p.h, "127.0.0.6", "editor@example.com", p.current),
			"Too many sign-in attempts for this account", 60)
		wantLimitedAs(t, "sign-in by username", from(t, p.h, "127.0.0.7", http.MethodPost, "/v1/login",
			map[string]string{"username": "editor", "password": p.current}), "Too many sign-in attempts for this account", 60)
	})
	t.Run("case=one-count-across-dialects", func(t *testing.T) {
		t.Parallel()
		p := startPasswordChecks(t, tightLimits(3, 3))
		wantStatus(t, "wrong sign-in", nhostSignIn(t, p.h, "127.0.0.2", "editor@example.com", "wrong-password"), http.StatusUnauthorized)
		wantStatus(t, "az wrong current_password", p.azChange("127.0.0.3", "wrong-password"), http.StatusBadRequest)
		wantStatus(t, "wme wrong previous_password", p.wmeChange("127.0.0.4", "wrong-password"), http.StatusUnauthorized)
		wantLimitedAs(t, "az address change, fourth", p.azEmail("127.0.0.5", "wrong-password"), perAccount, 60)
		wantLimitedAs(t, "az password change, right password", p.azChange("127.0.0.6", p.current), perAccount, 60)
	})
	t.Run("case=lockout", func(t *testing.T) {
		t.Parallel()
		p := startPasswordChecks(t, lockoutConfig)
		fromHere := "Too many failed sign-ins for this account from this address"
		for range 3 {
			wantStatus(t, "wrong previous_password", p.wmeChange("127.0.0.2", "wrong-password"), http.StatusUnauthorized)
		}
		// The address is locked for the account, under each of its names, and the right password
		// does not open it.
		p.h.NoWrites(t, func() {
			wantLimitedAs(t, "change with the right password", p.wmeChange("127.0.0.2", p.current), fromHere, 15*60)
		})
		wantLimitedAs(t, "sign-in by address", nhostSignIn(t, p.h, "127.0.0.2", "editor@example.com", p.current), fromHere, 15*60)
		wantLimitedAs(t, "sign-in by username", from(t, p.h, "127.0.0.2", http.MethodPost, "/v1/login",
			map[string]string{"username": "editor", "password": p.current}), fromHere, 15*60)
		wantLimitedAs(t, "az change from there", p.azChange("127.0.0.2", p.current), fromHere, 15*60)
		// Two more from elsewhere make five: the account is locked everywhere, briefly.
		wantStatus(t, "az wrong current_password", p.azChange("127.0.0.3", "wrong-password"), http.StatusBadRequest)
		wantStatus(t, "az wrong current_password", p.azEmail("127.0.0.4", "wrong-password"), http.StatusBadRequest)
		wantLimitedAs(t, "sign-in elsewhere", nhostSignIn(t, p.h, "127.0.0.5", "editor@example.com", p.current),
			"Too many failed sign-ins for this account", 120)
		p.h.Clock.Advance(2*time.Minute + time.Second)
		wantStatus(t, "sign-in elsewhere after the account lock", nhostSignIn(t, p.h, "127.0.0.5", "editor@example.com", p.current), http.StatusOK)
	})
}
