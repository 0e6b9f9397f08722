package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// fakeTwilio is Twilio's Messages API on 127.0.0.1: it records the texts it accepts and can
// answer the next requests with an error.
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	texts    []fakeText
	failures []fakeFailure // answers for the next requests, in order
	requests atomic.Int64
	arrived  chan struct{} // one token per recorded text
}

type fakeText struct{ To, Body, From, Service string }

type fakeFailure struct{ status, code int }

const (
	fakeSID   = "AC00000000000000000000000000000001"
	fakeToken = "fake-twilio-auth-token-0123456789"
)

func startFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{arrived: make(chan struct{}, 1000)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+fakeSID+"/Messages.json" || !ok || user != fakeSID || pass != fakeToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":20003,"message":"Authenticate","status":401}`))
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if len(f.failures) > 0 {
			fl := f.failures[0]
			f.failures = f.failures[1:]
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fl.status)
			_ = json.NewEncoder(w).Encode(map[string]any{"code": fl.code, "message": "refused by the fake", "status": fl.status})
			return
		}
		f.texts = append(f.texts, fakeText{To: r.PostForm.Get("To"), Body: r.PostForm.Get("Body"),
			From: r.PostForm.Get("From"), Service: r.PostForm.Get("MessagingServiceSid")})
		n := len(f.texts)
		f.mu.Unlock()
		f.arrived <- struct{}{}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sid":"SM` + strings.Repeat("0", 30) + string(rune('0'+n%10)) + `","status":"queued"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

// fail makes the next n requests answer status with Twilio error code.
func (f *fakeTwilio) fail(n, status, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failures = append(f.failures, fakeFailure{status, code})
	}
}

// count is how many texts to `to` arrived ("" : to anyone).
func (f *fakeTwilio) count(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, x := range f.texts {
		if to == "" || x.To == to {
			n++
		}
	}
	return n
}

// next waits for the n-th text to `to` (1-based) and returns it.
func (f *fakeTwilio) nth(t *testing.T, to string, n int) fakeText {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		seen := 0
		for _, x := range f.texts {
			if x.To == to {
				if seen++; seen == n {
					f.mu.Unlock()
					return x
				}
			}
		}
		f.mu.Unlock()
		select {
		case <-f.arrived:
		case <-deadline:
			t.Fatalf("no text #%d to %s arrived", n, to)
		}
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func (x fakeText) code(t *testing.T) string {
	t.Helper()
	c := sixDigits.FindString(x.Body)
	if c == "" {
		t.Fatalf("no code in text %q", x.Body)
	}
	return c
}

// smsOn turns SMS sign-in on, texting through f, with limits the tests do not reach unless
// they mean to.
func smsOn(f *fakeTwilio, more ...func(*server.SMSConfig)) func(*server.Config) {
	return func(c *server.Config) {
		c.SMS.PasswordlessEnabled = true
		c.SMS.Provider = server.SMSProviderTwilio
		c.SMS.Twilio.BaseURL, c.SMS.Twilio.AccountSID, c.SMS.Twilio.AuthToken = f.URL, fakeSID, fakeToken
		c.SMS.Twilio.From = "+15005550006"
		c.SMS.DefaultRegion = "DE"
		c.SMS.MaxPerNumberHour, c.SMS.MaxPerNumberDay, c.SMS.MaxPerHour = 1000, 1000, 100000
		c.SMS.MaxPerAddress = server.RateLimit{Requests: 100000, Window: time.Hour}
		for _, m := range more {
			m(&c.SMS)
		}
	}
}

const phone = "+4915123456789"

func askSMS(t *testing.T, h *servertest.Harness, number string, opts *gen.SignUpOptions) *gen.SignInPasswordlessSmsResult {
	t.Helper()
	res, err := h.Client.SignInPasswordlessSmsWithResponse(context.Background(), gen.SignInPasswordlessSmsJSONRequestBody{PhoneNumber: number, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func verifySMS(t *testing.T, h *servertest.Harness, number, otp string) *gen.VerifySignInPasswordlessSmsResult {
	t.Helper()
	res, err := h.Client.VerifySignInPasswordlessSmsWithResponse(context.Background(), gen.VerifySignInPasswordlessSmsJSONRequestBody{PhoneNumber: number, Otp: otp})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSMSSignIn: the whole flow through the fake Twilio, and what a code may and may not do.
func TestSMSSignIn(t *testing.T) {
	f := startFakeTwilio(t)
	h := servertest.Start(t, smsOn(f), func(c *server.Config) { c.AllowedLocales = []string{"en", "de"} })
	ctx := context.Background()

	// National form with the default region, spaces and dashes; a new account, in German.
	de := "de"
	if r := askSMS(t, h, "0151 2345-6789", &gen.SignUpOptions{Locale: &de}); r.StatusCode() != http.StatusOK {
		t.Fatalf("ask: %d %s", r.StatusCode(), r.Body)
	}
	text := f.nth(t, phone, 1)
	if text.From != "+15005550006" || !strings.Contains(text.Body, "Anmeldecode") {
		t.Fatalf("text: %+v", text)
	}
	// The code works from another form of the same number, once.
	v := verifySMS(t, h, "+49 (151) 234-56789", text.code(t))
	if v.JSON200 == nil || v.JSON200.Session == nil || v.JSON200.Mfa != nil {
		t.Fatalf("verify: %d %s", v.StatusCode(), v.Body)
	}
	u, err := h.Client.GetUserWithResponse(ctx, servertest.Bearer(v.JSON200.Session.AccessToken))
	if err != nil || u.JSON200 == nil {
		t.Fatalf("user: %v %s", err, u.Body)
	}
	if u.JSON200.PhoneNumber == nil || *u.JSON200.PhoneNumber != phone || !u.JSON200.PhoneNumberVerified || u.JSON200.Locale != "de" {
		t.Fatalf("user: %s", u.Body)
	}
	h.NoWrites(t, func() {
		r := verifySMS(t, h, phone, text.code(t))
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	}, "audit_events", "lockouts")
	// The outbox keeps no body once the text has left.
	rows, err := h.Store.SMSOutbox(ctx, phone)
	if err != nil || len(rows) != 1 || rows[0].SentAt == nil || rows[0].ProviderID == "" || rows[0].Body != nil {
		t.Fatalf("outbox: %v %+v", err, rows)
	}
	if m := h.Metrics(t); !strings.Contains(m, `latchkey_sms_deliveries_total{outcome="sent"} 1`) {
		t.Fatalf("metrics: no sent text counted")
	}

	n := 1
	ask := func() string {
		t.Helper()
		if r := askSMS(t, h, phone, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("ask: %d %s", r.StatusCode(), r.Body)
		}
		n++
		return f.nth(t, phone, n).code(t)
	}
	t.Run("wrong", func(t *testing.T) {
		code := ask()
		h.NoWrites(t, func() {
			r := verifySMS(t, h, phone, wrongCode(code, 6))
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		}, "tickets", "audit_events", "lockouts")
		if r := verifySMS(t, h, phone, code); r.JSON200 == nil {
			t.Fatalf("right code after a wrong one: %d %s", r.StatusCode(), r.Body)
		}
	})
	t.Run("tries-exhausted", func(t *testing.T) {
		code := ask()
		for range server.DefaultConfig().CodeMaxAttempts {
			verifySMS(t, h, phone, wrongCode(code, 6))
		}
		r := verifySMS(t, h, phone, code)
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	})
	t.Run("expired", func(t *testing.T) {
		code := ask()
		h.Clock.Advance(server.DefaultSMSConfig().OTPTTL + time.Second)
		r := verifySMS(t, h, phone, code)
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
	})
	t.Run("replaced", func(t *testing.T) {
		first := ask()
		second := ask()
		if first != second {
			r := verifySMS(t, h, phone, first)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		}
		if r := verifySMS(t, h, phone, second); r.JSON200 == nil {
			t.Fatalf("newest code: %d %s", r.StatusCode(), r.Body)
		}
	})
	t.Run("unknown-number", func(t *testing.T) {
		h.NoWrites(t, func() {
			r := verifySMS(t, h, "+447400123456", "123456")
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		}, "audit_events", "lockouts")
	})
	codes := map[string]string{}
	for i := 1; i <= n; i++ {
		codes[f.nth(t, phone, i).code(t)] = "texted code"
	}
	if leaks := servertest.FindLeaks(map[string]fmt.Stringer{"server": h.Logs}, codes); len(leaks) > 0 {
		t.Fatalf("codes in the log: %v", leaks)
	}
}
