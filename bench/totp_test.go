package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/bench/load"
)

// The pool hands a user out at most once per 30-second step, the oldest sign-in first, and a
// take that finds none free waits for the next step and fails, so a row short of users cannot
// pass.
func TestTOTPPoolOncePerStep(t *testing.T) {
	step := int64(1_000_000)
	// 5 ms before the next step begins: a dry take waits those 5 ms, not poolDryPause.
	now := time.Unix((step+1)*30, 0).Add(-5 * time.Millisecond)
	clock := func() time.Time { return now }
	a := &totpUser{email: "a", lastStep: step - 1}
	b := &totpUser{email: "b", lastStep: step - 3}
	c := &totpUser{email: "c", lastStep: step} // signed in this step already
	p := newTOTPPool([]*totpUser{a, c, b}, clock)
	ctx := context.Background()

	var got []string
	for range 2 {
		u, err := p.take(ctx)
		if err != nil {
			t.Fatalf("take: %v", err)
		}
		u.lastStep = stepAt(now) // as a sign-in would
		got = append(got, u.email)
		p.put(u)
	}
	if got[0] != "b" || got[1] != "a" {
		t.Errorf("handed out %v, want the oldest sign-in first: [b a]", got)
	}
	if u, err := p.take(ctx); !errors.Is(err, errPoolDry) {
		t.Errorf("every user signed in this step, yet take answered %v, %v", u, err)
	}

	now = now.Add(5 * time.Millisecond) // the next step
	u, err := p.take(ctx)
	if err != nil || u != c {
		t.Errorf("next step: take answered %v, %v; want c, whose sign-in is oldest", u, err)
	}
	u.lastStep = stepAt(now)
	p.put(u)
	for range 2 { // b and a, free again
		u, err := p.take(ctx)
		if err != nil {
			t.Fatalf("take of a free user: %v", err)
		}
		u.lastStep = stepAt(now)
		p.put(u)
	}

	// Far from the next step, a dry take fails after poolDryPause, not at the step's end.
	now = now.Add(time.Second)
	start := time.Now()
	if _, err := p.take(ctx); !errors.Is(err, errPoolDry) {
		t.Errorf("a dry take answered %v", err)
	}
	if waited := time.Since(start); waited > 10*poolDryPause {
		t.Errorf("a dry take waited %v, the step's end rather than poolDryPause", waited)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.take(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("a dry take with its context ended answered %v", err)
	}
}

// A user's code is the server's kind (30-second steps, six digits, SHA-1) for the current step,
// and the step is recorded as the user's last.
func TestTOTPUserCode(t *testing.T) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "bench", AccountName: "u"})
	if err != nil {
		t.Fatal(err)
	}
	u := &totpUser{secret: key.Secret()}
	at := time.Unix(1_800_000_015, 0)
	code, err := u.code(at)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := totp.ValidateCustom(code, key.Secret(), at, totpOpts); !ok || len(code) != 6 {
		t.Errorf("code %q is not valid at its step", code)
	}
	if ok, _ := totp.ValidateCustom(code, key.Secret(), at.Add(30*time.Second), totp.ValidateOpts{Period: 30, Digits: 6, Algorithm: totpOpts.Algorithm}); ok {
		t.Errorf("code %q is valid a step later: not a 30-second step", code)
	}
	if u.lastStep != 60_000_000 {
		t.Errorf("last step %d, want 60000000", u.lastStep)
	}
}

// The automatic pool lasts a step of sign-ins at the raw hash rate, with the margin, and has a
// user for each worker.
func TestTOTPPoolSize(t *testing.T) {
	for _, c := range []struct {
		raw          float64
		widest, want int
	}{{80, 64, 2880}, {0, 64, totpPoolFallback}, {1, 64, 64}} {
		if got := totpPoolSize(c.raw, c.widest, totpPoolFallback); got != c.want {
			t.Errorf("totpPoolSize(%v, %d) = %d, want %d", c.raw, c.widest, got, c.want)
		}
	}
}

// The TOTP sign-in is judged like the password sign-in: its rate over the raw hash rate times the
// run's ceiling, at each database and concurrency.
func TestTOTPSignInJudgedAgainstCeiling(t *testing.T) {
	r := &report{
		Opts:      &options{concs: []int{16}, dbs: []string{"sqlite"}, scenarios: map[string]bool{scenarioTOTP: true, "hash": true}, repeat: 1},
		Baselines: []*baseline{{DB: "sqlite", Floor: map[int]*load.Result{}, Hash: &hashResult{Hashes: 90, Elapsed: time.Second}}},
		Rows: []row{{DB: "sqlite", Scenario: scenarioTOTP, VsHash: true, Conc: 16, Res: rps(16, 72),
			Runs: []rowRun{{Res: rps(16, 72), Usage: ceilingUsage(0.85), Yard: 90}}}},
		DBs: []*dbRun{{Name: "sqlite"}},
	}
	// 72 / 90 = 0.8 of the raw rate, over a ceiling of 0.85: 0.941.
	checkSays(t, r, "signin-totp on sqlite at c=16", "PASS", "two-step TOTP sign-ins/s >= 0.90 × the ceiling", "0.941")
	r.Rows[0].Runs[0].Res = rps(16, 60) // 0.667 / 0.85 = 0.784
	checkSays(t, r, "signin-totp on sqlite at c=16", "FAIL", "0.784")
	checkSays(t, r, "signin on sqlite", "SKIP", "signin not selected")
}
