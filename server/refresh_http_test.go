package server_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// refreshAll presents one refresh token from n goroutines at once and returns every answer.
func refreshAll(t *testing.T, h *servertest.Harness, token string, n int) []*gen.RefreshTokenResult {
	t.Helper()
	out := make([]*gen.RefreshTokenResult, n)
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			out[i], errs[i] = h.Client.RefreshTokenWithResponse(context.Background(), gen.RefreshTokenJSONRequestBody{RefreshToken: token})
		}()
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if out[i].StatusCode() >= 500 {
			t.Fatalf("refresh %d: %d %s", i, out[i].StatusCode(), out[i].Body)
		}
	}
	return out
}

func leeway(d time.Duration) func(*server.Config) {
	return func(c *server.Config) { c.RefreshReuseLeeway = d }
}

// TestRefreshRacingTabs: 16 tabs present the same refresh token at once. Within the leeway all
// of them get 200 with the same successor, and the session lives on.
func TestRefreshRacingTabs(t *testing.T) {
	h := servertest.Start(t) // default leeway, 10s
	s := signUp(t, h, "tabs@example.com", "correct-horse")
	for round := range 5 { // the successor itself is then raced, and so on
		res := refreshAll(t, h, s.RefreshToken, 16)
		var successor string
		for i, r := range res {
			if r.JSON200 == nil {
				t.Fatalf("round %d, tab %d: %d %s", round, i, r.StatusCode(), r.Body)
			}
			if successor == "" {
				successor = r.JSON200.RefreshToken
			}
			if r.JSON200.RefreshToken != successor {
				t.Fatalf("round %d: tab %d got successor %s, another got %s", round, i, r.JSON200.RefreshToken, successor)
			}
			if r.JSON200.RefreshToken == s.RefreshToken {
				t.Fatalf("round %d: token was not rotated", round)
			}
			if u := getUser(t, h, r.JSON200.AccessToken); u.StatusCode() != http.StatusOK {
				t.Fatalf("round %d, tab %d: access token rejected: %d", round, i, u.StatusCode())
			}
		}
		s = *res[0].JSON200
	}
	if n := h.Counts(t)["refresh_tokens"]; n != 6 {
		t.Errorf("refresh tokens stored = %d, want 6 (one per round plus the first): no branches", n)
	}
}

// TestRefreshRaceWithoutLeeway: with the leeway off, exactly one of 16 racing callers wins; the
// others replayed a spent token, so the session is revoked, the winner's token included.
func TestRefreshRaceWithoutLeeway(t *testing.T) {
	for run := range 5 {
		h := servertest.Start(t, leeway(0))
		s := signUp(t, h, "race@example.com", "correct-horse")
		res := refreshAll(t, h, s.RefreshToken, 16)
		var won *gen.Session
		for _, r := range res {
			switch {
			case r.JSON200 != nil:
				if won != nil {
					t.Fatalf("run %d: two callers won", run)
				}
				won = r.JSON200
			case r.JSON401 == nil || r.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken:
				t.Fatalf("run %d: loser got %d %s, want 401 invalid-refresh-token", run, r.StatusCode(), r.Body)
			}
		}
		if won == nil {
			t.Fatalf("run %d: nobody won", run)
		}
		if r := must(refresh(t, h, won.RefreshToken))(t); r.StatusCode() != http.StatusUnauthorized {
			t.Fatalf("run %d: winner's token after reuse: %d, want 401 (session revoked)", run, r.StatusCode())
		}
		if u := getUser(t, h, won.AccessToken); u.StatusCode() != http.StatusUnauthorized {
			t.Fatalf("run %d: winner's access token after reuse: %d, want 401", run, u.StatusCode())
		}
	}
}

// TestRefreshReuseAfterLeeway: a spent token presented after the leeway revokes the session and
// is audited as reuse; within the leeway it yields the successor.
func TestRefreshReuseAfterLeeway(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "reuse@example.com", "correct-horse")
	first := must(refresh(t, h, s.RefreshToken))(t)
	if first.JSON200 == nil {
		t.Fatalf("refresh: %d %s", first.StatusCode(), first.Body)
	}
	h.Clock.Advance(9 * time.Second)
	again := must(refresh(t, h, s.RefreshToken))(t)
	if again.JSON200 == nil || again.JSON200.RefreshToken != first.JSON200.RefreshToken {
		t.Fatalf("within leeway: %d %s, want the same successor", again.StatusCode(), again.Body)
	}
	h.Clock.Advance(2 * time.Second) // 11s after the rotation
	late := must(refresh(t, h, s.RefreshToken))(t)
	if late.JSON401 == nil || late.JSON401.Error != gen.ErrorResponseErrorInvalidRefreshToken {
		t.Fatalf("after leeway: %d %s, want 401 invalid-refresh-token", late.StatusCode(), late.Body)
	}
	if r := must(refresh(t, h, first.JSON200.RefreshToken))(t); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("successor after reuse: %d, want 401 (session revoked)", r.StatusCode())
	}
	events, err := h.Store.AuditEvents(context.Background(), "refresh_token.reuse", 10)
	if err != nil || len(events) != 1 || events[0].Outcome != "failure" || events[0].SessionID == nil {
		t.Fatalf("reuse audit events = %+v, %v; want one failure with its session", events, err)
	}
}

// TestRefreshWithinLeewayFollowsChain: a tab that presents a token whose successor was itself
// rotated (all within the leeway) gets the live end of the chain, not a spent token.
func TestRefreshWithinLeewayFollowsChain(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "chain@example.com", "correct-horse")
	r1 := must(refresh(t, h, s.RefreshToken))(t)
	r2 := must(refresh(t, h, r1.JSON200.RefreshToken))(t)
	if r2.JSON200 == nil {
		t.Fatalf("second refresh: %d %s", r2.StatusCode(), r2.Body)
	}
	late := must(refresh(t, h, s.RefreshToken))(t)
	if late.JSON200 == nil || late.JSON200.RefreshToken != r2.JSON200.RefreshToken {
		t.Fatalf("grandparent within leeway: %d %s, want the live token %s", late.StatusCode(), late.Body, r2.JSON200.RefreshToken)
	}
}

// TestRefreshWithinLeewayAfterSignOut: the leeway never revives an ended session.
func TestRefreshWithinLeewayAfterSignOut(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "out@example.com", "correct-horse")
	r1 := must(refresh(t, h, s.RefreshToken))(t)
	so := must(h.Client.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &r1.JSON200.RefreshToken}))(t)
	if so.StatusCode() != http.StatusOK {
		t.Fatalf("sign out: %d", so.StatusCode())
	}
	if r := must(refresh(t, h, s.RefreshToken))(t); r.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("spent token of an ended session within leeway: %d, want 401", r.StatusCode())
	}
}

// TestSignOutWithSpentRefreshToken: nhost-js may refresh and then sign out with the token it
// held before; that token still names its session, which ends.
func TestSignOutWithSpentRefreshToken(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "spent@example.com", "correct-horse")
	r1 := must(refresh(t, h, s.RefreshToken))(t)
	so := must(h.Client.SignOutWithResponse(context.Background(), gen.SignOutJSONRequestBody{RefreshToken: &s.RefreshToken}))(t)
	if so.StatusCode() != http.StatusOK {
		t.Fatalf("sign out: %d %s", so.StatusCode(), so.Body)
	}
	if u := getUser(t, h, r1.JSON200.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("session after sign-out with the spent token: %d, want 401", u.StatusCode())
	}
}

// TestSignOutBearerOnly: nhost-js's bare signOut() sends no body, only the bearer token; the
// session of that token ends.
func TestSignOutBearerOnly(t *testing.T) {
	h := servertest.Start(t)
	s := signUp(t, h, "bare@example.com", "correct-horse")
	code, body := h.Do(t, http.MethodPost, "/v1/signout",
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + s.AccessToken}, "")
	if code != http.StatusOK {
		t.Fatalf("bodiless sign-out: %d %s", code, body)
	}
	if u := getUser(t, h, s.AccessToken); u.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("after bodiless sign-out: %d, want 401", u.StatusCode())
	}
}

// TestPurge: spent refresh tokens go after their retention, live ones stay; ended sessions go
// after theirs. A spent token replayed after the purge is refused as unknown: no longer
// recognised as a replay, it ends nothing, and the session's live token still refreshes.
func TestPurge(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()
	s := signUp(t, h, "purge@example.com", "correct-horse")
	r, err := refresh(t, h, s.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON200 == nil {
		t.Fatalf("refresh: %d %s", r.StatusCode(), r.Body)
	}
	gone := signUp(t, h, "gone@example.com", "correct-horse")
	so, err := h.Client.SignOutWithResponse(ctx, gen.SignOutJSONRequestBody{RefreshToken: &gone.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if so.StatusCode() != http.StatusOK {
		t.Fatalf("sign out: %d %s", so.StatusCode(), so.Body)
	}
	before := h.Counts(t)
	if n, err := h.Server.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge right away removed %d rows (%v), want 0", n, err)
	}
	h.Clock.Advance(25 * time.Hour)
	if _, err := h.Server.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	after := h.Counts(t)
	if after["refresh_tokens"] != before["refresh_tokens"]-1 {
		t.Fatalf("refresh tokens %d → %d, want the one spent token gone", before["refresh_tokens"], after["refresh_tokens"])
	}
	// The replay: a spent token still on record (past the leeway) would end the session here.
	replay, err := refresh(t, h, s.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if replay.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("spent token replayed after the purge: %d %s, want 401", replay.StatusCode(), replay.Body)
	}
	if e := servertest.NhostError(t, replay.Body); e.Error != gen.ErrorResponseErrorInvalidRefreshToken {
		t.Fatalf("spent token replayed after the purge: error %q, want %q", e.Error, gen.ErrorResponseErrorInvalidRefreshToken)
	}
	rr, err := refresh(t, h, r.JSON200.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if rr.JSON200 == nil {
		t.Fatalf("live token after the purge and the replay: %d %s", rr.StatusCode(), rr.Body)
	}
	h.Clock.Advance(7 * 24 * time.Hour)
	if _, err := h.Server.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.Counts(t)["sessions"]; n != 1 {
		t.Fatalf("sessions after retention = %d, want only the live one", n)
	}
}
