package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/latchkey/latchkey/bench/load"
)

// benchPassword is every bench user's password.
const benchPassword = "correct-horse-battery"

// session is the part of Latchkey's Session object the harness uses. The
// user object is not decoded (the decoder still skims it).
type session struct {
	AccessToken          string `json:"accessToken"`
	AccessTokenExpiresIn int64  `json:"accessTokenExpiresIn"`
	RefreshToken         string `json:"refreshToken"`
	RefreshTokenID       string `json:"refreshTokenId"`
}

// check rejects a Session without the tokens every later request needs.
func (s *session) check(what string) error {
	switch {
	case s == nil:
		return fmt.Errorf("%s: reply has no session (is email verification required?)", what)
	case s.AccessToken == "":
		return fmt.Errorf("%s: session has no accessToken", what)
	case s.RefreshToken == "":
		return fmt.Errorf("%s: session has no refreshToken", what)
	}
	return nil
}

// api is a thin client for the endpoints the scenarios call.
type api struct {
	base string       // e.g. http://127.0.0.1:40123
	run  string       // distinguishes this run's e-mail addresses
	seq  atomic.Int64 // numbers fresh e-mail addresses
}

// freshEmail returns an address no one has signed up with in this run.
func (a *api) freshEmail() string {
	return fmt.Sprintf("bench-%s-%d@example.com", a.run, a.seq.Add(1))
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// signUp: POST /v1/signup/email-password -> {"session": Session}.
func (a *api) signUp(ctx context.Context, c *http.Client, email string) (*session, error) {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/signup/email-password",
		credentials{Email: email, Password: benchPassword}, "")
	if err != nil {
		return nil, err
	}
	var out struct {
		Session *session `json:"session"`
	}
	if err := load.Send(c, req, &out); err != nil {
		return nil, err
	}
	return out.Session, out.Session.check("sign-up")
}

// signIn: POST /v1/signin/email-password -> {"session": Session}.
func (a *api) signIn(ctx context.Context, c *http.Client, email string) (*session, error) {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/signin/email-password",
		credentials{Email: email, Password: benchPassword}, "")
	if err != nil {
		return nil, err
	}
	var out struct {
		Session *session `json:"session"`
	}
	if err := load.Send(c, req, &out); err != nil {
		return nil, err
	}
	return out.Session, out.Session.check("sign-in")
}

// refresh: POST /v1/token {"refreshToken"} -> Session at the top level.
func (a *api) refresh(ctx context.Context, c *http.Client, refreshToken string) (*session, error) {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/token",
		map[string]string{"refreshToken": refreshToken}, "")
	if err != nil {
		return nil, err
	}
	var out session
	if err := load.Send(c, req, &out); err != nil {
		return nil, err
	}
	return &out, out.check("refresh")
}

// getUser: GET /v1/user with the access token -> the user (not decoded).
func (a *api) getUser(ctx context.Context, c *http.Client, accessToken string) error {
	req, err := load.NewRequest(ctx, http.MethodGet, a.base+"/v1/user", nil, accessToken)
	if err != nil {
		return err
	}
	return load.Send(c, req, nil)
}

// verify: POST /v1/token/verify with the access token, a JSON content type
// and no body -> "OK".
func (a *api) verify(ctx context.Context, c *http.Client, accessToken string) error {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/token/verify", nil, accessToken)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return load.Send(c, req, nil)
}

// healthz: GET /healthz.
func (a *api) healthz(ctx context.Context, c *http.Client) error {
	req, err := load.NewRequest(ctx, http.MethodGet, a.base+"/healthz", nil, "")
	if err != nil {
		return err
	}
	return load.Send(c, req, nil)
}

// benchUser is one worker's own account. Worker i of every scenario uses
// user i, and scenarios run one after another, so a user is never used by
// two goroutines at once. Its tokens carry over from scenario to scenario:
// each refresh answer replaces both, keeping one rotation chain per user.
type benchUser struct {
	email   string
	access  string
	refresh string
}

func (u *benchUser) take(s *session) { u.access, u.refresh = s.AccessToken, s.RefreshToken }

// renew gets the user a fresh access token by refreshing (continuing the
// chain), or by signing in again if the chain is broken. It runs untimed, in
// worker setup and after a failed refresh.
func (u *benchUser) renew(ctx context.Context, a *api, c *http.Client) error {
	if u.refresh != "" {
		if s, err := a.refresh(ctx, c, u.refresh); err == nil {
			u.take(s)
			return nil
		}
	}
	s, err := a.signIn(ctx, c, u.email)
	if err != nil {
		return fmt.Errorf("renewing %s's tokens: %w", u.email, err)
	}
	u.take(s)
	return nil
}

// setupUsers signs up n users (the "setup" step), a few at a time. Sign-up
// hashes a password, so running all of them at once would only queue.
func setupUsers(ctx context.Context, a *api, c *http.Client, n int) ([]*benchUser, error) {
	users := make([]*benchUser, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			u := &benchUser{email: a.freshEmail()}
			s, err := a.signUp(ctx, c, u.email)
			if err != nil {
				errs[i] = err
				return
			}
			u.take(s)
			users[i] = u
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("setup: signing up %d users: %w", n, firstLine(err))
	}
	return users, nil
}

// firstLine keeps a joined error short: the first error and how many more.
func firstLine(err error) error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		if es := j.Unwrap(); len(es) > 1 {
			return fmt.Errorf("%w (and %d more)", es[0], len(es)-1)
		}
	}
	return err
}

// scenario is one kind of request the harness measures.
type scenario struct {
	name      string
	vsHash    bool // ratio against raw hashes/s rather than the floor
	needUsers bool // needs the setup users
	needTOTP  bool // needs the TOTP users instead (signin-totp; worker is nil, see totpWorker)
	// worker builds worker i; users has at least i+1 entries when needUsers.
	worker func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc
}

// scenarios, in the order they run. Refresh, which writes the most, comes last: it leaves the
// database busy afterwards (autovacuum on PostgreSQL, WAL checkpoints on SQLite), and on two cores
// that work would be measured as part of whichever scenario followed. Sign-up and sign-in write
// little (their rate is bounded by hashing), so they and the reads go first.
var scenarios = []scenario{
	{
		name: "healthz",
		worker: func(a *api, c *http.Client, _ []*benchUser) load.NewWorkerFunc {
			return func(context.Context, int) (load.Worker, error) {
				return load.WorkerFunc(func(ctx context.Context) error { return a.healthz(ctx, c) }), nil
			}
		},
	},
	{
		name:   "signup",
		vsHash: true,
		worker: func(a *api, c *http.Client, _ []*benchUser) load.NewWorkerFunc {
			return func(context.Context, int) (load.Worker, error) {
				return load.WorkerFunc(func(ctx context.Context) error {
					_, err := a.signUp(ctx, c, a.freshEmail())
					return err
				}), nil
			}
		},
	},
	{
		name:      "signin",
		vsHash:    true,
		needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(_ context.Context, i int) (load.Worker, error) {
				u := users[i]
				return load.WorkerFunc(func(ctx context.Context) error {
					_, err := a.signIn(ctx, c, u.email)
					return err
				}), nil
			}
		},
	},
	{
		name:     scenarioTOTP,
		vsHash:   true,
		needTOTP: true,
	},
	{
		name:      "getuser",
		needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(ctx context.Context, i int) (load.Worker, error) {
				u := users[i]
				if err := u.renew(ctx, a, c); err != nil { // a fresh access token
					return nil, err
				}
				return load.WorkerFunc(func(ctx context.Context) error { return a.getUser(ctx, c, u.access) }), nil
			}
		},
	},
	{
		name:      "verify",
		needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(ctx context.Context, i int) (load.Worker, error) {
				u := users[i]
				if err := u.renew(ctx, a, c); err != nil {
					return nil, err
				}
				return load.WorkerFunc(func(ctx context.Context) error { return a.verify(ctx, c, u.access) }), nil
			}
		},
	},
	{
		name:      "refresh",
		needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(ctx context.Context, i int) (load.Worker, error) {
				u := users[i]
				if u.refresh == "" { // a broken chain from an earlier scenario
					if err := u.renew(ctx, a, c); err != nil {
						return nil, err
					}
				}
				return load.WorkerFunc(func(ctx context.Context) error {
					s, err := a.refresh(ctx, c, u.refresh)
					if err != nil {
						// The token may or may not have been spent: start a
						// new chain (untimed: a failure's latency is not
						// recorded) and count this request as failed.
						u.refresh = ""
						_ = u.renew(ctx, a, c)
						return err
					}
					u.take(s) // chain: the next request uses this answer's token
					return nil
				}), nil
			}
		},
	},
}

// The other dialects' hot paths (issue 5). Every bench user signed up through the Nhost dialect;
// the other dialects log in with the same address and password (WME takes the address as its
// username).

// wmeTokens is the part of a WME login answer the harness uses.
type wmeTokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// wmeLogin: POST /v1/login {"username","password"} -> tokens.
func (a *api) wmeLogin(ctx context.Context, c *http.Client, email string) (*wmeTokens, error) {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/login",
		map[string]string{"username": email, "password": benchPassword}, "")
	if err != nil {
		return nil, err
	}
	var out wmeTokens
	if err := load.Send(c, req, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" || out.RefreshToken == "" {
		return nil, errors.New("wme login: answer without access_token or refresh_token")
	}
	return &out, nil
}

// wmeRefresh: POST /v1/token-refresh {"username","refresh_token"} -> new access and id tokens;
// the refresh token is not rotated, so the worker presents the same one every time.
func (a *api) wmeRefresh(ctx context.Context, c *http.Client, email, refreshToken string) error {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/token-refresh",
		map[string]string{"username": email, "refresh_token": refreshToken}, "")
	if err != nil {
		return err
	}
	var out wmeTokens
	if err := load.Send(c, req, &out); err != nil {
		return err
	}
	if out.AccessToken == "" || out.IDToken == "" {
		return errors.New("wme token-refresh: answer without access_token or id_token")
	}
	return nil
}

// zestyLogin: POST /login {"email","password"} (JSON; the SDK's multipart costs the same once
// decoded) -> the session token in meta.token.
func (a *api) zestyLogin(ctx context.Context, c *http.Client, email string) (string, error) {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/login", credentials{Email: email, Password: benchPassword}, "")
	if err != nil {
		return "", err
	}
	var out struct {
		Meta struct {
			Token string `json:"token"`
		} `json:"meta"`
	}
	if err := load.Send(c, req, &out); err != nil {
		return "", err
	}
	if out.Meta.Token == "" {
		return "", errors.New("zesty login: answer without meta.token")
	}
	return out.Meta.Token, nil
}

// zestyVerify: GET /verify with the session token as a bearer token (what @zesty-io/sdk sends);
// each call also extends the token's sliding expiry, a write.
func (a *api) zestyVerify(ctx context.Context, c *http.Client, token string) error {
	req, err := load.NewRequest(ctx, http.MethodGet, a.base+"/verify", nil, token)
	if err != nil {
		return err
	}
	return load.Send(c, req, nil)
}

// azSignIn: POST /sign_in {"email","password"} -> 201, the session token in X-Session-Token.
func (a *api) azSignIn(ctx context.Context, c *http.Client, email string) error {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/sign_in", credentials{Email: email, Password: benchPassword}, "")
	if err != nil {
		return err
	}
	return load.Send(c, req, nil)
}

// dialectScenarios are the other dialects' hot paths; they run after the Nhost scenarios, at
// -extra-concurrency.
var dialectScenarios = []scenario{
	{
		name: "wme-login", vsHash: true, needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(_ context.Context, i int) (load.Worker, error) {
				u := users[i]
				return load.WorkerFunc(func(ctx context.Context) error {
					_, err := a.wmeLogin(ctx, c, u.email)
					return err
				}), nil
			}
		},
	},
	{
		name: "wme-refresh", needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(ctx context.Context, i int) (load.Worker, error) {
				u := users[i]
				t, err := a.wmeLogin(ctx, c, u.email) // untimed: the one reusable refresh token
				if err != nil {
					return nil, err
				}
				return load.WorkerFunc(func(ctx context.Context) error { return a.wmeRefresh(ctx, c, u.email, t.RefreshToken) }), nil
			}
		},
	},
	{
		name: "zesty-login", vsHash: true, needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(_ context.Context, i int) (load.Worker, error) {
				u := users[i]
				return load.WorkerFunc(func(ctx context.Context) error {
					_, err := a.zestyLogin(ctx, c, u.email)
					return err
				}), nil
			}
		},
	},
	{
		name: "zesty-verify", needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(ctx context.Context, i int) (load.Worker, error) {
				tok, err := a.zestyLogin(ctx, c, users[i].email) // untimed
				if err != nil {
					return nil, err
				}
				return load.WorkerFunc(func(ctx context.Context) error { return a.zestyVerify(ctx, c, tok) }), nil
			}
		},
	},
	{
		name: "az-signin", vsHash: true, needUsers: true,
		worker: func(a *api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
			return func(_ context.Context, i int) (load.Worker, error) {
				u := users[i]
				return load.WorkerFunc(func(ctx context.Context) error { return a.azSignIn(ctx, c, u.email) }), nil
			}
		},
	},
}

// roundRobin builds sc's workers spread over several instances of one deployment: worker i
// talks to apis[i % len(apis)], as a load balancer with sticky connections would send it.
func roundRobin(sc scenario, apis []*api, c *http.Client, users []*benchUser) load.NewWorkerFunc {
	mk := make([]load.NewWorkerFunc, len(apis))
	for j, a := range apis {
		mk[j] = sc.worker(a, c, users)
	}
	return func(ctx context.Context, i int) (load.Worker, error) { return mk[i%len(mk)](ctx, i) }
}

// scenarioNamed finds a scenario of either list by name.
func scenarioNamed(name string) scenario {
	for _, sc := range append(slices.Clone(scenarios), dialectScenarios...) {
		if sc.name == name {
			return sc
		}
	}
	panic("bench: no scenario " + name)
}
