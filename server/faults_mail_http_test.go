package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

const (
	// harnessSMTPTimeout is the SMTP timeout servertest gives its servers' mailers.
	harnessSMTPTimeout = 5 * time.Second
	// promptAnswer bounds a mail-sending request while SMTP is down or stalled: well under the
	// SMTP timeout, so an answer that waited for SMTP cannot pass.
	promptAnswer = 2 * time.Second
)

// TestMailSMTPFaults: with the SMTP server down (connections refused) or stalled (it accepts
// the message's DATA and never answers), a sign-up that mails a verification link and a reset
// request answer at once with 200: the mail is queued, which is all an outbox promises (Nhost's
// answer to a sign-up awaiting verification has no session; its client tells the user to check
// their mail). The user, its roles, its ticket and the outbox row are written together. The
// deliverer's attempts end within the SMTP timeout and are recorded with their error; once SMTP
// is back, each message is delivered exactly once.
func TestMailSMTPFaults(t *testing.T) {
	t.Parallel() // most of its time is waiting out SMTP timeouts
	for _, mode := range []string{"down", "stall"} {
		t.Run("smtp="+mode, func(t *testing.T) {
			t.Parallel()
			h := servertest.Start(t, func(c *server.Config) { c.RequireVerifiedEmail = true })
			ctx := context.Background()
			email := "smtp-" + mode + "@example.com"
			switch mode {
			case "down":
				h.Mail.Stop()
			case "stall":
				h.Mail.Stall()
			}

			before := h.Counts(t)
			start := time.Now()
			res, err := h.Client.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
				Email: openapi_types.Email(email), Password: "smtp-fault-password"})
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed > promptAnswer {
				t.Errorf("sign-up with SMTP %s took %v, want under %v", mode, elapsed, promptAnswer)
			}
			if res.JSON200 == nil || res.JSON200.Session != nil {
				t.Fatalf("sign-up with SMTP %s: %d %s, want 200 without a session (verification mail queued)", mode, res.StatusCode(), res.Body)
			}
			after := h.Counts(t)
			for table, want := range map[string]int64{"users": 1, "user_roles": 2, "tickets": 1, "mail_outbox": 1} {
				if got := after[table] - before[table]; got != want {
					t.Errorf("sign-up with SMTP %s wrote %d rows to %s, want %d", mode, got, table, want)
				}
			}

			// The deliverer may be stuck in the stalled transaction: requests do not wait for it.
			start = time.Now()
			requestReset(t, h, email)
			if elapsed := time.Since(start); elapsed > promptAnswer {
				t.Errorf("reset request with SMTP %s took %v, want under %v", mode, elapsed, promptAnswer)
			}

			// Every queued message has had an attempt, ended by the SMTP timeout at the latest
			// and recorded with its error. Attempts run one after the other, hence two timeouts.
			start = time.Now()
			deadline := start.Add(2*harnessSMTPTimeout + 3*time.Second)
			for {
				if _, err := h.Server.DeliverMail(ctx); err != nil {
					t.Fatal(err)
				}
				pending, err := h.Store.UndeliveredMail(ctx, 10)
				if err != nil {
					t.Fatal(err)
				}
				done := len(pending) == 2
				for _, m := range pending {
					done = done && m.LastError != "" && m.FailedAt == nil && m.SentAt == nil
				}
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %v with SMTP %s, the outbox is %+v; want both messages tried, failed and waiting", time.Since(start), mode, pending)
				}
				time.Sleep(20 * time.Millisecond) // polling a condition, with a deadline
			}
			if n := h.Mail.Count(email); n != 0 {
				t.Fatalf("%d messages arrived while SMTP was %s", n, mode)
			}

			switch mode {
			case "down":
				h.Mail.Restart(t)
			case "stall":
				h.Mail.Unstall()
			}
			h.Clock.Advance(5 * time.Minute) // past the first retry's backoff
			if _, err := h.Server.DeliverMail(ctx); err != nil {
				t.Fatal(err)
			}
			h.Mail.Next(t, email)
			h.Mail.Next(t, email)
			// Later passes, after every backoff, send nothing again.
			h.Clock.Advance(2 * time.Hour)
			if _, err := h.Server.DeliverMail(ctx); err != nil {
				t.Fatal(err)
			}
			if n := h.Mail.Count(email); n != 2 {
				t.Errorf("%d messages to %s after SMTP recovered, want 2 (verification and reset, once each)", n, email)
			}
			if pending := must(h.Store.UndeliveredMail(ctx, 10))(t); len(pending) != 0 {
				t.Errorf("still undelivered after SMTP recovered: %+v", pending)
			}
			if status, body := h.Do(t, http.MethodGet, "/readyz", nil, ""); status != http.StatusOK {
				t.Errorf("readyz: %d %s (SMTP is not a readiness dependency)", status, body)
			}
		})
	}
}
