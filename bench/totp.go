package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/bench/load"
)

// The TOTP sign-in scenario (issue 18): users with TOTP active sign in in two steps, the password
// (which hashes once and answers an MFA ticket instead of a session) and then the ticket with a
// current code at POST /v1/signin/mfa/totp (which opens the session). One measured request is the
// whole two-step sign-in.
//
// The server accepts a code only for a step later than the last one it accepted for the user, so
// a user can sign in once per 30-second step. The scenario's users form a pool handed out oldest
// first; a user signed in during the current step is not handed out again before the next one.
// The pool is sized from the raw hash rate (see totpPoolSize) so that it lasts a whole step of
// sign-ins; should it still run dry, the worker waits for the next step and that sign-in counts
// as failed, so a row that ran short of users cannot pass.

const (
	scenarioTOTP = "signin-totp"
	totpStep     = 30 * time.Second // the server's TOTP period
	// totpPoolMargin is how many times a step's worth of sign-ins at the raw hash rate the
	// automatic pool holds: a sign-in hashes once, so no run can sign in more users per step
	// than the raw rate allows, and the margin covers the rate drifting up between the baseline
	// and the rows.
	totpPoolMargin = 1.2
	// totpPoolFallback is the pool size when the raw hash rate was not measured: a step at 80
	// hashes/s, about our 2-core VM's rate.
	totpPoolFallback = 2400
	// benchSecretsKey is the LATCHKEY_SECRETS_KEY of the servers the harness starts (32 bytes in
	// base64). It seals only the TOTP secrets of the bench's throwaway databases.
	benchSecretsKey = "bGF0Y2hrZXktYmVuY2gtc2VjcmV0cy1rZXktMzJieXQ="
)

// totpOpts are the server's code parameters (30-second steps, six digits, SHA-1: what every
// authenticator app reads from the otpauth:// URI).
var totpOpts = totp.ValidateOpts{Period: uint(totpStep / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpUser is one pool user: an account with TOTP active, and the last step whose code the
// server accepted for it (so the next sign-in needs a later one).
type totpUser struct {
	email    string
	secret   string // base32, as the server answered it
	lastStep int64
}

// stepAt is the TOTP step of t.
func stepAt(t time.Time) int64 { return t.Unix() / int64(totpStep/time.Second) }

// code is u's code for the step of now, which it records as the user's last.
func (u *totpUser) code(now time.Time) (string, error) {
	u.lastStep = stepAt(now)
	return totp.GenerateCodeCustom(u.secret, now, totpOpts)
}

// activate turns TOTP on for u. It sends the previous step's code, which the server accepts (one
// step of skew either side), so u may sign in during the current step, right after the setup; if
// the step turned meanwhile and that code is refused, it sends the current one.
func (u *totpUser) activate(ctx context.Context, a *api, c *http.Client, accessToken string) error {
	code, err := u.code(time.Now().Add(-totpStep))
	if err != nil {
		return err
	}
	if err = a.totpActivate(ctx, c, accessToken, code); err == nil {
		return nil
	}
	var se *load.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		return err
	}
	if code, err = u.code(time.Now()); err != nil {
		return err
	}
	return a.totpActivate(ctx, c, accessToken, code)
}

// totpPool hands out the scenario's users, each to one worker at a time and at most once per
// step. Users go back at the end of the queue, so the one at its head is the one whose last
// sign-in is oldest.
type totpPool struct {
	mu    sync.Mutex
	queue []*totpUser
	now   func() time.Time
}

// newTOTPPool queues users oldest sign-in first (a run's pool starts from where the previous
// run's users stand).
func newTOTPPool(users []*totpUser, now func() time.Time) *totpPool {
	q := slices.Clone(users)
	slices.SortStableFunc(q, func(x, y *totpUser) int { return cmp.Compare(x.lastStep, y.lastStep) })
	return &totpPool{queue: q, now: now}
}

// poolDryPause is the longest a worker waits for a free user before its sign-in fails.
const poolDryPause = 100 * time.Millisecond

// errPoolDry is a sign-in that found no user free to sign in this step.
var errPoolDry = errors.New("signin-totp: every pool user has signed in this 30-second step; " +
	"raise -totp-users")

// take hands out the user whose last sign-in is oldest, if it may sign in this step. When none
// may, it waits a little (until the next step begins, at most poolDryPause, or until ctx ends)
// and answers errPoolDry: that sign-in counts as failed, inside the measured window, and a
// worker without a user does not spin.
func (p *totpPool) take(ctx context.Context) (*totpUser, error) {
	p.mu.Lock()
	now := p.now()
	if len(p.queue) > 0 && p.queue[0].lastStep < stepAt(now) {
		u := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	next := time.Unix((stepAt(now)+1)*int64(totpStep/time.Second), 0)
	t := time.NewTimer(min(next.Sub(now), poolDryPause))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	return nil, errPoolDry
}

// put gives a user back.
func (p *totpPool) put(u *totpUser) {
	p.mu.Lock()
	p.queue = append(p.queue, u)
	p.mu.Unlock()
}

// totpPoolSize is the automatic pool size: a step's worth of sign-ins at the raw hash rate, with
// a margin, and at least one user per worker of the widest run; with no raw rate, fallback.
func totpPoolSize(rawHashRate float64, widest, fallback int) int {
	n := fallback
	if rawHashRate > 0 {
		n = int(math.Ceil(rawHashRate * totpStep.Seconds() * totpPoolMargin))
	}
	return max(n, widest)
}

// totpGenerate: GET /v1/mfa/totp/generate with the access token -> the pending secret.
func (a *api) totpGenerate(ctx context.Context, c *http.Client, accessToken string) (string, error) {
	req, err := load.NewRequest(ctx, http.MethodGet, a.base+"/v1/mfa/totp/generate", nil, accessToken)
	if err != nil {
		return "", err
	}
	var out struct {
		TotpSecret string `json:"totpSecret"`
	}
	if err := load.Send(c, req, &out); err != nil {
		return "", err
	}
	if out.TotpSecret == "" {
		return "", errors.New("totp generate: answer without totpSecret")
	}
	return out.TotpSecret, nil
}

// totpActivate: POST /v1/user/mfa {"code","activeMfaType":"totp"} with the access token.
func (a *api) totpActivate(ctx context.Context, c *http.Client, accessToken, code string) error {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/user/mfa",
		map[string]string{"code": code, "activeMfaType": "totp"}, accessToken)
	if err != nil {
		return err
	}
	return load.Send(c, req, nil)
}

// signInTOTP is the whole two-step sign-in of a TOTP user: POST /v1/signin/email-password ->
// {"mfa":{"ticket"}}, then POST /v1/signin/mfa/totp {"ticket","otp"} -> {"session"}. The code is
// computed after the first answer, just before it is sent.
func (a *api) signInTOTP(ctx context.Context, c *http.Client, u *totpUser, now func() time.Time) error {
	req, err := load.NewRequest(ctx, http.MethodPost, a.base+"/v1/signin/email-password",
		credentials{Email: u.email, Password: benchPassword}, "")
	if err != nil {
		return err
	}
	var first struct {
		Session *session `json:"session"`
		MFA     *struct {
			Ticket string `json:"ticket"`
		} `json:"mfa"`
	}
	if err := load.Send(c, req, &first); err != nil {
		return err
	}
	if first.MFA == nil || first.MFA.Ticket == "" {
		return errors.New("signin-totp: the password step answered no mfa.ticket (is LATCHKEY_MFA_ENABLED on?)")
	}
	code, err := u.code(now())
	if err != nil {
		return err
	}
	req, err = load.NewRequest(ctx, http.MethodPost, a.base+"/v1/signin/mfa/totp",
		map[string]string{"ticket": first.MFA.Ticket, "otp": code}, "")
	if err != nil {
		return err
	}
	var second struct {
		Session *session `json:"session"`
	}
	if err := load.Send(c, req, &second); err != nil {
		return err
	}
	return second.Session.check("signin-totp")
}

// setupTOTPUsers signs up n users and activates TOTP for each through the API (generate, then
// activate with a code, see activate), a few at a time.
func setupTOTPUsers(ctx context.Context, a *api, c *http.Client, n int) ([]*totpUser, error) {
	users, err := setupUsers(ctx, a, c, n)
	if err != nil {
		return nil, fmt.Errorf("signin-totp %w", err)
	}
	out := make([]*totpUser, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, bu := range users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sec, err := a.totpGenerate(ctx, c, bu.access)
			if err != nil {
				errs[i] = err
				return
			}
			u := &totpUser{email: bu.email, secret: sec}
			if err := u.activate(ctx, a, c, bu.access); err != nil {
				errs[i] = err
				return
			}
			out[i] = u
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("signin-totp setup: activating TOTP for %d users: %w", n, firstLine(err))
	}
	return out, nil
}

// totpWorker builds the scenario's workers for one run: they share one pool over users, and
// each request signs in the user the pool hands out.
func totpWorker(a *api, c *http.Client, users []*totpUser) load.NewWorkerFunc {
	pool := newTOTPPool(users, time.Now)
	return func(context.Context, int) (load.Worker, error) {
		return load.WorkerFunc(func(ctx context.Context) error {
			u, err := pool.take(ctx)
			if err != nil {
				return err
			}
			defer pool.put(u)
			return a.signInTOTP(ctx, c, u, time.Now)
		}), nil
	}
}
