package faults

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite", for reading the SQLite file
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// killAfter is how many acknowledged operations the load reaches before the server is killed.
const killAfter = 150

// account is a user whose sign-up was acknowledged.
type account struct{ email, password string }

// chain is one session's refresh tokens in the order they were handed out: tokens[i+1] is the
// acknowledged successor of tokens[i]. inFlight means a refresh of the last token was sent and
// never answered (the kill came first): it may or may not have been spent.
type chain struct {
	tokens   []string
	inFlight bool
}

func (c *chain) last() string { return c.tokens[len(c.tokens)-1] }

// worker is one client of the load. Its accounts and sessions are its own, so no two clients
// ever race on one refresh token: with the reuse leeway at 0, every second use is a replay.
type worker struct {
	id       int
	accounts []account
	chains   []*chain
	problems []string
	// interrupted names the operation the kill cut short, if any: its request was written
	// before the kill and never answered.
	interrupted string
}

// TestKillDuringLoad kills the server with SIGKILL in the middle of a load of sign-ups, sign-ins
// and refreshes, restarts it on the same database, and checks that everything it acknowledged
// survived and nothing it did not finish is half there: every acknowledged account signs in;
// every user has its roles, its default role among them, its password and its sign-up record;
// every session has its user, its sign-in record and exactly one live refresh token; every
// refresh token has its session; every acknowledged refresh spent its parent, and its successor
// works exactly once. The kill must interrupt work: at least one request was written before it
// and never answered, or the test would show nothing about half-done work.
func TestKillDuringLoad(t *testing.T) {
	db := newDatabase(t)
	settings := []string{
		"LATCHKEY_REFRESH_REUSE_LEEWAY=0s", // a refresh token presented twice is refused the second time
		"LATCHKEY_RATE_LIMITS=false",       // one address sends the whole load
		"LATCHKEY_LOCKOUT_THRESHOLD=0",
		"LATCHKEY_HASH_QUEUE_TIMEOUT=0", // a loaded CI machine must not turn the load into 503s
	}
	srv := startServer(t, "before-kill", db, settings...)

	var (
		acked   atomic.Int64
		killed  atomic.Bool
		wg      sync.WaitGroup
		reached = make(chan struct{}) // closed by the killAfter-th acknowledgement
		stopped = make(chan struct{}) // closed when every worker has ended
	)
	workers := make([]*worker, 6)
	for i := range workers {
		w := &worker{id: i}
		workers[i] = w
		wg.Go(func() {
			w.load(srv.Client, &killed, func() {
				if acked.Add(1) == killAfter {
					close(reached)
				}
			})
		})
	}
	go func() { wg.Wait(); close(stopped) }()
	// Kill once the load has been acknowledged killAfter times: every worker is mid-request or
	// about to send one.
	select {
	case <-reached:
	case <-stopped: // every worker failed early; their problems say why
	}
	killed.Store(true)
	srv.Kill()
	<-stopped
	for _, w := range workers {
		for _, p := range w.problems {
			t.Error(p)
		}
	}
	if t.Failed() {
		t.Fatalf("the load failed before the kill; log of the killed server:\n%s", srv.LogTail(30))
	}
	var accounts []account
	var chains []*chain
	var interrupted []string
	inFlight := 0
	for _, w := range workers {
		accounts = append(accounts, w.accounts...)
		chains = append(chains, w.chains...)
		for _, c := range w.chains {
			if c.inFlight {
				inFlight++
			}
		}
		if w.interrupted != "" {
			interrupted = append(interrupted, w.interrupted)
		}
	}
	t.Logf("killed after %d acknowledged operations: %d accounts, %d sessions, %d refreshes in flight; interrupted: %v",
		acked.Load(), len(accounts), len(chains), inFlight, interrupted)
	if len(accounts) == 0 || len(chains) == 0 {
		t.Fatalf("the load acknowledged %d accounts and %d sessions: the restart checks would check nothing", len(accounts), len(chains))
	}
	if len(interrupted) == 0 {
		t.Fatalf("no request was in flight at the kill (none written before it went unanswered): the restart checks would prove nothing about interrupted work")
	}

	srv = startServer(t, "after-kill", db, settings...)
	checkWhole(t, db, chains)
	checkRefreshes(t, srv.Client, chains)
	for _, a := range accounts {
		res, err := srv.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
			Email: openapi_types.Email(a.email), Password: a.password})
		if err != nil {
			t.Fatalf("sign-in after the restart: %v", err)
		}
		if res.StatusCode() != http.StatusOK {
			t.Errorf("acknowledged account %s does not sign in after the restart: %d %s", a.email, res.StatusCode(), res.Body)
		}
	}
}

// load runs a mix of operations until the server is gone.
func (w *worker) load(c *gen.ClientWithResponses, killed *atomic.Bool, ack func()) {
	// wroteBeforeKill: the current request was written whole while killed was still false. One
	// that then gets no answer was in the server's hands when it died.
	var wroteBeforeKill atomic.Bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil && !killed.Load() {
				wroteBeforeKill.Store(true)
			}
		},
	})
	// failed reports whether an operation got no 200; res is read only when err is nil.
	failed := func(op string, err error, res interface {
		StatusCode() int
	}, body func() []byte) bool {
		switch {
		case err != nil && killed.Load():
			if wroteBeforeKill.Load() {
				w.interrupted = op
			}
			return true // the server is gone: the end of this worker's load
		case err != nil:
			w.problems = append(w.problems, fmt.Sprintf("worker %d: %s before the kill: %v", w.id, op, err))
			return true
		case res.StatusCode() != http.StatusOK:
			w.problems = append(w.problems, fmt.Sprintf("worker %d: %s: status %d, body %s", w.id, op, res.StatusCode(), body()))
			return true
		}
		return false
	}
	for n := 0; ; n++ {
		wroteBeforeKill.Store(false)
		live := slices.IndexFunc(w.chains, func(c *chain) bool { return !c.inFlight })
		switch r := rand.IntN(10); {
		case len(w.accounts) == 0 || r < 3:
			a := account{email: fmt.Sprintf("w%d-%d@example.com", w.id, n), password: fmt.Sprintf("pw-%d-%d-%x", w.id, n, rand.Uint64())}
			res, err := c.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
				Email: openapi_types.Email(a.email), Password: a.password})
			if failed("sign-up", err, res, func() []byte { return res.Body }) {
				return
			}
			if res.JSON200 == nil || res.JSON200.Session == nil {
				w.problems = append(w.problems, fmt.Sprintf("sign-up %s: no session in %s", a.email, res.Body))
				return
			}
			w.accounts = append(w.accounts, a)
			w.chains = append(w.chains, &chain{tokens: []string{res.JSON200.Session.RefreshToken}})
		case live < 0 || r < 5:
			a := w.accounts[rand.IntN(len(w.accounts))]
			res, err := c.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{
				Email: openapi_types.Email(a.email), Password: a.password})
			if failed("sign-in", err, res, func() []byte { return res.Body }) {
				return
			}
			if res.JSON200 == nil || res.JSON200.Session == nil {
				w.problems = append(w.problems, fmt.Sprintf("sign-in %s: no session in %s", a.email, res.Body))
				return
			}
			w.chains = append(w.chains, &chain{tokens: []string{res.JSON200.Session.RefreshToken}})
		default:
			ch := w.chains[rand.IntN(len(w.chains))]
			if ch.inFlight {
				ch = w.chains[live]
			}
			ch.inFlight = true // until the answer comes
			res, err := c.RefreshTokenWithResponse(ctx, gen.RefreshTokenJSONRequestBody{RefreshToken: ch.last()})
			if failed("refresh", err, res, func() []byte { return res.Body }) {
				return
			}
			if res.JSON200 == nil {
				w.problems = append(w.problems, fmt.Sprintf("refresh: no session in %s", res.Body))
				return
			}
			ch.tokens = append(ch.tokens, res.JSON200.RefreshToken)
			ch.inFlight = false
		}
		ack()
	}
}

// checkWhole reads the database the killed server left and checks that every row it holds is
// whole, and that the acknowledged refreshes are in it.
func checkWhole(t *testing.T, db database, chains []*chain) {
	t.Helper()
	driver := "sqlite"
	text := func(col string) string { return col }
	if db.dialect == store.Postgres {
		driver = "pgx"
		text = func(col string) string { return col + "::text" }
	}
	conn, err := sql.Open(driver, db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	query := func(q string, scan func(*sql.Rows) error) {
		t.Helper()
		rows, err := conn.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	type user struct {
		defaultRole string
		hasPassword bool
		roles       []string
		signUps     int
	}
	users := map[string]*user{}
	query(`SELECT `+text("id")+`, default_role, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END FROM users`, func(r *sql.Rows) error {
		var id string
		u := &user{}
		var pw int
		err := r.Scan(&id, &u.defaultRole, &pw)
		u.hasPassword = pw == 1
		users[id] = u
		return err
	})
	query(`SELECT `+text("user_id")+`, role FROM user_roles`, func(r *sql.Rows) error {
		var id, role string
		if err := r.Scan(&id, &role); err != nil {
			return err
		}
		if u := users[id]; u != nil {
			u.roles = append(u.roles, role)
		} else {
			t.Errorf("role %q of user %s, who does not exist", role, id)
		}
		return nil
	})
	signIns := map[string]int{}
	query(`SELECT action, COALESCE(`+text("target_user_id")+`, ''), COALESCE(`+text("session_id")+`, '') FROM audit_events`, func(r *sql.Rows) error {
		var action, target, sid string
		if err := r.Scan(&action, &target, &sid); err != nil {
			return err
		}
		switch action {
		case "user.sign_up":
			if u := users[target]; u != nil {
				u.signUps++
			}
		case "session.sign_in":
			signIns[sid]++
		}
		return nil
	})
	for id, u := range users {
		switch {
		case len(u.roles) == 0:
			t.Errorf("user %s has no roles: half created", id)
		case !slices.Contains(u.roles, u.defaultRole):
			t.Errorf("user %s: default role %q not among its roles %v", id, u.defaultRole, u.roles)
		}
		if !u.hasPassword {
			t.Errorf("user %s has no password hash", id)
		}
		if u.signUps != 1 {
			t.Errorf("user %s has %d sign-up records, want 1", id, u.signUps)
		}
	}

	type session struct {
		user   string
		live   int // unspent refresh tokens
		tokens int
	}
	sessions := map[string]*session{}
	query(`SELECT `+text("id")+`, `+text("user_id")+` FROM sessions`, func(r *sql.Rows) error {
		s := &session{}
		var id string
		err := r.Scan(&id, &s.user)
		sessions[id] = s
		return err
	})
	spent := map[[32]byte]bool{} // token hash → spent
	query(`SELECT `+text("session_id")+`, token_hash, CASE WHEN used_at IS NULL THEN 0 ELSE 1 END FROM refresh_tokens`, func(r *sql.Rows) error {
		var sid string
		var hash []byte
		var used int
		if err := r.Scan(&sid, &hash, &used); err != nil {
			return err
		}
		spent[[32]byte(hash)] = used == 1
		s := sessions[sid]
		if s == nil {
			t.Errorf("refresh token of session %s, which does not exist", sid)
			return nil
		}
		s.tokens++
		if used == 0 {
			s.live++
		}
		return nil
	})
	for id, s := range sessions {
		if users[s.user] == nil {
			t.Errorf("session %s of user %s, who does not exist", id, s.user)
		}
		if signIns[id] != 1 {
			t.Errorf("session %s has %d sign-in records, want 1", id, signIns[id])
		}
		// Rotation spends a token and stores its successor at once: a session always has exactly
		// one token left to use (none of them was replayed, so none was revoked).
		if s.live != 1 {
			t.Errorf("session %s has %d unspent refresh tokens of %d, want exactly 1", id, s.live, s.tokens)
		}
	}
	for _, c := range chains {
		for i, tok := range c.tokens {
			used, ok := spent[sha256.Sum256([]byte(tok))]
			switch {
			case !ok:
				t.Errorf("acknowledged refresh token %d of a session is not in the database", i)
			case i < len(c.tokens)-1 && !used:
				t.Errorf("refresh token %d of a session was acknowledged as rotated, but is unspent", i)
			case i == len(c.tokens)-1 && !c.inFlight && used:
				t.Errorf("the last acknowledged refresh token of a session is spent, but no refresh of it was sent")
			}
		}
	}
}

// checkRefreshes presents every session's last token twice (accepted once, then refused) and
// then its parent (refused).
func checkRefreshes(t *testing.T, c *gen.ClientWithResponses, chains []*chain) {
	t.Helper()
	ctx := context.Background()
	refresh := func(tok string) int {
		res, err := c.RefreshTokenWithResponse(ctx, gen.RefreshTokenJSONRequestBody{RefreshToken: tok})
		if err != nil {
			t.Fatalf("refresh after the restart: %v", err)
		}
		if s := res.StatusCode(); s != http.StatusOK && s != http.StatusUnauthorized {
			t.Fatalf("refresh after the restart: status %d, body %s", s, res.Body)
		}
		return res.StatusCode()
	}
	for i, ch := range chains {
		first := refresh(ch.last())
		switch {
		case first != http.StatusOK && !ch.inFlight:
			t.Errorf("session %d: its last acknowledged refresh token is refused after the restart (%d)", i, first)
		case first == http.StatusOK:
			if again := refresh(ch.last()); again != http.StatusUnauthorized {
				t.Errorf("session %d: a refresh token was accepted twice (second answer %d)", i, again)
			}
		}
		if len(ch.tokens) > 1 {
			if parent := refresh(ch.tokens[len(ch.tokens)-2]); parent != http.StatusUnauthorized {
				t.Errorf("session %d: the parent of an acknowledged refresh is accepted (%d)", i, parent)
			}
		}
	}
}
