package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/tcpproxy"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// outageRequestTimeout is the request timeout of the outage test's server: what a request
// waits, at most, for a database that went silent.
const outageRequestTimeout = 2 * time.Second

// TestDatabaseOutage puts a TCP proxy between a running server and its PostgreSQL and breaks it
// twice: cut (listener closed, live connections reset: the database host is gone) and stalled
// (connections open, no byte through: a partition or a frozen host). While it is broken, every
// dialect answers requests that need the database with a prompt 503 in its own shape with
// Retry-After, /readyz is 503 and /healthz 200, and nothing is written; once it is back, the same
// requests succeed on the same server, with no restart, and what met the outage left no trace
// (the refresh token presented then is still unspent, the sign-up then made no user).
func TestDatabaseOutage(t *testing.T) {
	if testdb.Backend() != store.Postgres {
		t.Skip("needs a database server to cut: SQLite is a file inside the process, so there is no " +
			"connection to lose (its open and I/O failures are classified by TestIsUnavailable in store)")
	}
	ctx := context.Background()
	u, err := url.Parse(testdb.PostgresSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	u.Host = proxy.Addr
	clock := testdb.NewClock()
	st, err := store.Open(ctx, store.Options{URL: u.String(), Now: clock.Now, MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := servertest.StartOn(t, st, clock, adminSecretOn, func(c *server.Config) { c.RequestTimeout = outageRequestTimeout })

	t.Run("mode=cut", func(t *testing.T) {
		// Refused and reset connections fail at once; the bound is generous for a busy machine.
		outagePhase(t, h, "cut", 3*time.Second, proxy.Cut, func() {
			if err := proxy.Restore(); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("mode=stall", func(t *testing.T) {
		// Silence ends in the request timeout; the bound adds slack for a busy machine.
		outagePhase(t, h, "stall", outageRequestTimeout+3*time.Second, proxy.Stall, proxy.Resume)
	})
}

// outagePhase signs a fresh user up, breaks the database connection with breakDB, checks that
// every dialect answers 503 within bound and writes nothing, mends it with mendDB and checks that
// everything works again.
func outagePhase(t *testing.T, h *servertest.Harness, mode string, bound time.Duration, breakDB, mendDB func()) {
	email, password := "outage-"+mode+"@example.com", "outage-password-1"
	sess := signUp(t, h, email, password)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	creds := `{"email":"` + email + `","password":"` + password + `"}`
	nhost := []string{"status", "message", "error"}
	type call struct {
		name, method, path string
		header             map[string]string
		body               string
		shape              []string // keys of the dialect's error body
	}
	calls := []call{
		{"nhost sign-in", http.MethodPost, "/v1/signin/email-password", jsonCT, creds, nhost},
		{"nhost user", http.MethodGet, "/v1/user", map[string]string{"Authorization": "Bearer " + sess.AccessToken}, "", nhost},
		// Presented while the database is gone, so after it is back it must still be unspent.
		{"nhost refresh", http.MethodPost, "/v1/token", jsonCT, `{"refreshToken":"` + sess.RefreshToken + `"}`, nhost},
		{"wme login", http.MethodPost, "/v1/login", jsonCT, `{"username":"` + email + `","password":"` + password + `"}`, []string{"status", "message"}},
		{"zesty login", http.MethodPost, "/login", jsonCT, creds, []string{"code", "message"}},
		{"az sign-in", http.MethodPost, "/sign_in", jsonCT, creds, []string{"error"}},
		{"admin list", http.MethodGet, "/v1/admin/users", map[string]string{"X-Admin-Secret": testAdminSecret}, "", []string{"status", "error", "message"}},
	}
	// A sign-up during the outage must leave no trace.
	lateEmail := "during-outage-" + mode + "@example.com"
	lateCreds := `{"email":"` + lateEmail + `","password":"` + password + `"}`
	lateSignUp := call{"nhost sign-up", http.MethodPost, "/v1/signup/email-password", jsonCT, lateCreds, nhost}

	before := h.Rows(t)
	breakDB()
	// All at once: a server that answers one request promptly but queues the next behind a hung
	// connection fails here too.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	for _, c := range append(calls, lateSignUp, call{"readyz", http.MethodGet, "/readyz", nil, "", []string{"status", "checks"}}) {
		wg.Go(func() {
			start := time.Now()
			hdr, status, body, err := send(h, c.method, c.path, c.header, c.body)
			elapsed := time.Since(start)
			switch {
			case err != nil:
				report("%s while the database is down: %v", c.name, err)
				return
			case status != http.StatusServiceUnavailable:
				report("%s while the database is down: status %d, want 503; body %s", c.name, status, body)
				return
			case elapsed > bound:
				report("%s while the database is down took %v, want under %v", c.name, elapsed, bound)
			}
			if ra := hdr.Get("Retry-After"); c.name != "readyz" && (ra == "" || ra == "0" || strings.Trim(ra, "0123456789") != "") {
				report("%s: Retry-After = %q, want a positive number of seconds", c.name, ra)
			}
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				report("%s: 503 body is not JSON: %s", c.name, body)
				return
			}
			for _, k := range c.shape {
				if _, ok := e[k]; !ok {
					report("%s: 503 body %s lacks %q of its dialect's error shape", c.name, body, k)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if status, body := h.Do(t, http.MethodGet, "/healthz", nil, ""); status != http.StatusOK {
		t.Errorf("healthz while the database is down: %d %s, want 200 (alive, only not ready)", status, body)
	}

	mendDB()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := h.Do(t, http.MethodGet, "/readyz", nil, "")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the database came back: %d %s, want 200", status, body)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, with a deadline
	}
	if changed := before.Changed(h.Rows(t)); changed != "" {
		t.Errorf("rows written during the outage: %s", changed)
	}
	for _, c := range calls {
		if status, body := h.Do(t, c.method, c.path, c.header, c.body); status < 200 || status > 299 {
			t.Errorf("%s after the database came back: %d %s, want 2xx", c.name, status, body)
		}
	}
	if status, body := h.Do(t, http.MethodPost, "/v1/signin/email-password", jsonCT, lateCreds); status != http.StatusUnauthorized {
		t.Errorf("sign-in as the user whose sign-up met the outage: %d %s, want 401 (no such user)", status, body)
	}
	if status, body := h.Do(t, lateSignUp.method, lateSignUp.path, lateSignUp.header, lateSignUp.body); status != http.StatusOK {
		t.Errorf("sign-up retried after the outage: %d %s, want 200", status, body)
	}
}

// send is Harness.Send for goroutines other than the test's: failures come back as errors.
func send(h *servertest.Harness, method, path string, header map[string]string, body string) (http.Header, int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		return nil, 0, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := h.HTTP.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.Header, res.StatusCode, b, err
}
