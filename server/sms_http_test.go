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
	arrived  chan struct{}  // one token per recorded text
	waited   map[string]int // texts per number handed out by wait
}

type fakeText struct{ To, Body, From, Service string }

type fakeFailure struct{ status, code int }

const (
	fakeSID   = "AC00000000000000000000000000000001"
	fakeToken = "fake-twilio-auth-token-0123456789"
)

func startFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{arrived: make(chan struct{}, 1000), waited: map[string]int{}}
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

// wait returns the next text to `to` not yet handed out by wait.
func (f *fakeTwilio) wait(ctx context.Context, to string) (fakeText, error) {
	for {
		f.mu.Lock()
		seen := 0
		for _, x := range f.texts {
			if x.To != to {
				continue
			}
			if seen++; seen > f.waited[to] {
				f.waited[to] = seen
				f.mu.Unlock()
				return x, nil
			}
		}
		f.mu.Unlock()
		select {
		case <-f.arrived:
		case <-ctx.Done():
			return fakeText{}, fmt.Errorf("no text to %s: %w", to, ctx.Err())
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

// TestSMSRefusals: numbers and accounts that get no text, each with its status and code, and
// nothing written.
func TestSMSRefusals(t *testing.T) {
	f := startFakeTwilio(t)
	ctx := context.Background()

	t.Run("disabled-endpoint", func(t *testing.T) {
		h := servertest.Start(t) // SMS sign-in is off by default
		h.NoWrites(t, func() {
			r := askSMS(t, h, phone, nil)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusConflict, "disabled-endpoint")
			v := verifySMS(t, h, phone, "123456")
			wantNhostError(t, v.StatusCode(), v.Body, http.StatusConflict, "disabled-endpoint")
		})
	})

	h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.AllowedCountries = []int{49, 44} }), adminSecretOn)
	numbers := []struct{ name, number, reason string }{
		{"letters", "+49 151 CALLME", "not a valid phone number"},
		{"words", "call me maybe", "not a valid phone number"},
		{"too-short", "+49 151", "not a valid phone number"},
		{"fixed-line", "+49 30 12345678", "not a mobile number"},
		{"premium-rate", "+49 900 1234567", "premium-rate"},
		{"shared-cost", "+49 180 1234567", "shared-cost"},
		{"country-not-allowed", "+33 6 12 34 56 78", "country code +33"},
	}
	for _, c := range numbers {
		t.Run(c.name, func(t *testing.T) {
			h.NoWritesAtAll(t, func() {
				r := askSMS(t, h, c.number, nil)
				wantNhostError(t, r.StatusCode(), r.Body, http.StatusBadRequest, "invalid-request")
				if e := servertest.NhostError(t, r.Body); !strings.Contains(e.Message, c.reason) || strings.Contains(e.Message, c.number) {
					t.Fatalf("message %q does not say %q (or repeats the number)", e.Message, c.reason)
				}
			})
		})
	}
	t.Run("national-without-region", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.DefaultRegion = "" }))
		h.NoWritesAtAll(t, func() {
			r := askSMS(t, h, "0151 23456789", nil)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusBadRequest, "invalid-request")
		})
	})
	t.Run("signup-closed", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f), func(c *server.Config) { c.DisableSignup = true })
		h.NoWrites(t, func() {
			r := askSMS(t, h, phone, nil)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusForbidden, "signup-disabled")
		})
	})
	t.Run("disabled-user", func(t *testing.T) {
		u := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "disabled-phone@example.com"})
		if r, err := h.Client.AdminSetUserPhoneWithResponse(ctx, u.User.Id, gen.AdminSetPhoneRequest{PhoneNumber: "+447400123456"}, asAdmin); err != nil || r.JSON200 == nil {
			t.Fatalf("set phone: %v %s", err, r.Body)
		}
		if r, err := h.Client.AdminDisableUserWithResponse(ctx, u.User.Id, asAdmin); err != nil || r.JSON200 == nil {
			t.Fatalf("disable: %v %s", err, r.Body)
		}
		h.NoWrites(t, func() {
			r := askSMS(t, h, "+44 7400 123456", nil)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "disabled-user")
		})
	})
	if f.count("") != 0 {
		t.Fatalf("%d texts sent for refused requests", f.count(""))
	}
	if m := h.Metrics(t); !strings.Contains(m, `latchkey_sms_refusals_total{defence="number_type"} 2`) ||
		!strings.Contains(m, `latchkey_sms_refusals_total{defence="country"} 1`) {
		t.Fatalf("refusals by number type not counted")
	}
}

// TestSMSLimits: each ceiling refuses with 429, Retry-After and its name, writes no text, and
// lets texts through again once its window has passed.
func TestSMSLimits(t *testing.T) {
	f := startFakeTwilio(t)
	refused := func(t *testing.T, h *servertest.Harness, number, says string) {
		t.Helper()
		if err := deliverAll(h); err != nil {
			t.Fatal(err)
		}
		before := f.count("")
		h.NoWrites(t, func() {
			hdr, status, body := h.Send(t, http.MethodPost, "/v1/signin/passwordless/sms",
				map[string]string{"Content-Type": "application/json"}, `{"phoneNumber":"`+number+`"}`)
			wantNhostError(t, status, body, http.StatusTooManyRequests, "too-many-requests")
			if hdr.Get("Retry-After") == "" || !strings.Contains(servertest.NhostError(t, body).Message, says) {
				t.Fatalf("refusal: Retry-After %q, %s; want it to say %q", hdr.Get("Retry-After"), body, says)
			}
		})
		if err := deliverAll(h); err != nil || f.count("") != before {
			t.Fatalf("a refused request sent a text (%v)", err)
		}
	}
	ok := func(t *testing.T, h *servertest.Harness, number string) {
		t.Helper()
		if r := askSMS(t, h, number, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("ask %s: %d %s", number, r.StatusCode(), r.Body)
		}
	}

	t.Run("per-number-hour", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerNumberHour = 2 }))
		ok(t, h, phone)
		ok(t, h, "0151 23456789") // the same number, another form
		refused(t, h, "+49 151 23456789", "this number this hour")
		ok(t, h, "+447400123456") // another number is not held back
		h.Clock.Advance(time.Hour)
		ok(t, h, phone)
	})
	t.Run("per-number-day", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerNumberDay = 2 }))
		// The day's ceiling counts per UTC day, a fixed window as every limit's: the test starts
		// a minute into a day, so its two hours stay within one wherever the real clock stands
		// (started at 23:15 UTC, they crossed midnight and the count began afresh).
		now := h.Clock.Now()
		h.Clock.Advance(now.Truncate(24 * time.Hour).Add(24*time.Hour + time.Minute).Sub(now))
		ok(t, h, phone)
		h.Clock.Advance(time.Hour)
		ok(t, h, phone)
		h.Clock.Advance(time.Hour)
		refused(t, h, phone, "this number today")
		h.Clock.Advance(24 * time.Hour)
		ok(t, h, phone)
	})
	t.Run("per-address", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerAddress = server.RateLimit{Requests: 2, Window: time.Hour} }))
		ok(t, h, "+4915123450001")
		ok(t, h, "+4915123450002")
		refused(t, h, "+4915123450003", "from this address")
	})
	t.Run("global", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerHour = 2 }))
		ok(t, h, "+4915123450011")
		ok(t, h, "+4915123450012")
		refused(t, h, "+4915123450013", "hourly limit of texts for everyone")
		refused(t, h, "+4915123450014", "hourly limit of texts for everyone")
		if n := strings.Count(h.Logs.String(), "SMS GLOBAL CEILING REACHED"); n != 1 {
			t.Fatalf("the global ceiling was logged %d times, want once", n)
		}
		if m := h.Metrics(t); !strings.Contains(m, `latchkey_sms_refusals_total{defence="global"} 2`) {
			t.Fatal("global refusal not counted")
		}
		h.Clock.Advance(time.Hour)
		ok(t, h, "+4915123450013")
	})
	t.Run("code-guesses", func(t *testing.T) {
		h := servertest.Start(t, smsOn(f), func(c *server.Config) { c.CodeGuessLimit = server.RateLimit{Requests: 3, Window: time.Hour} })
		ok(t, h, "+4915123450021")
		code := f.nth(t, "+4915123450021", 1).code(t)
		for range 2 {
			r := verifySMS(t, h, "+4915123450021", wrongCode(code, 6))
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		}
		r := verifySMS(t, h, "0151 23450021", wrongCode(code, 6)) // the same number: the same cap
		wantNhostError(t, r.StatusCode(), r.Body, http.StatusUnauthorized, "invalid-otp")
		h.NoWrites(t, func() {
			r := verifySMS(t, h, "+4915123450021", code)
			wantNhostError(t, r.StatusCode(), r.Body, http.StatusTooManyRequests, "too-many-requests")
		})
	})
}

// deliverAll runs a delivery pass, so texts due now have been tried when it returns.
func deliverAll(hs ...*servertest.Harness) error {
	for _, h := range hs {
		if _, err := h.Server.DeliverSMS(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// TestSMSDelivery: a provider that is down delays the text without failing the request; a
// provider that refuses the text for good has it given up and logged with its code.
func TestSMSDelivery(t *testing.T) {
	f := startFakeTwilio(t)
	h := servertest.Start(t, smsOn(f))
	ctx := context.Background()

	t.Run("twilio-down", func(t *testing.T) {
		f.fail(1, http.StatusServiceUnavailable, 20500)
		if r := askSMS(t, h, phone, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("ask while Twilio is down: %d %s", r.StatusCode(), r.Body)
		}
		if err := deliverAll(h); err != nil {
			t.Fatal(err)
		}
		rows, err := h.Store.SMSOutbox(ctx, phone)
		if err != nil || len(rows) != 1 || rows[0].SentAt != nil || rows[0].FailedAt != nil || rows[0].Attempts != 1 || rows[0].Body == nil {
			t.Fatalf("outbox after a 503: %v %+v", err, rows)
		}
		if f.count(phone) != 0 {
			t.Fatal("a text arrived though Twilio was down")
		}
		h.Clock.Advance(server.DefaultSMSConfig().RetryBase)
		if err := deliverAll(h); err != nil {
			t.Fatal(err)
		}
		code := f.nth(t, phone, 1).code(t)
		if r := verifySMS(t, h, phone, code); r.JSON200 == nil {
			t.Fatalf("the late text's code: %d %s", r.StatusCode(), r.Body)
		}
		if m := h.Metrics(t); !strings.Contains(m, `latchkey_sms_deliveries_total{outcome="retry"} 1`) {
			t.Fatal("retry not counted")
		}
	})
	t.Run("twilio-4xx", func(t *testing.T) {
		f.fail(1, http.StatusBadRequest, 21211)
		number := "+447400123456"
		if r := askSMS(t, h, number, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("ask: %d %s", r.StatusCode(), r.Body)
		}
		if err := deliverAll(h); err != nil {
			t.Fatal(err)
		}
		rows, err := h.Store.SMSOutbox(ctx, number)
		if err != nil || len(rows) != 1 || rows[0].FailedAt == nil || rows[0].Body != nil || !strings.Contains(rows[0].LastError, "21211") {
			t.Fatalf("outbox after a 400: %v %+v", err, rows)
		}
		h.Clock.Advance(time.Hour)
		if err := deliverAll(h); err != nil || f.count(number) != 0 {
			t.Fatalf("a given-up text was tried again (%v)", err)
		}
		logs := h.Logs.String()
		if !strings.Contains(logs, "sms delivery failed; given up") || !strings.Contains(logs, `"provider_code":21211`) {
			t.Fatalf("given-up text not logged with Twilio's code:\n%s", logs)
		}
		if m := h.Metrics(t); !strings.Contains(m, `latchkey_sms_deliveries_total{outcome="given_up"} 1`) {
			t.Fatal("given-up text not counted")
		}
	})
}

// TestSMSFlood: 200 concurrent requests for 200 numbers on two instances sharing one database
// hit the global ceiling, and no more texts leave than it allows.
func TestSMSFlood(t *testing.T) {
	const ceiling, requests = 20, 200
	f := startFakeTwilio(t)
	a := servertest.Start(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerHour = ceiling }))
	b := a.Another(t, smsOn(f, func(c *server.SMSConfig) { c.MaxPerHour = ceiling }))
	var okN, limited, other atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range requests {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Go(func() {
			<-start
			res, err := h.Client.SignInPasswordlessSmsWithResponse(context.Background(),
				gen.SignInPasswordlessSmsJSONRequestBody{PhoneNumber: fmt.Sprintf("+49151234%05d", 50000+i)})
			switch {
			case err != nil:
				other.Add(1)
			case res.StatusCode() == http.StatusOK:
				okN.Add(1)
			case res.StatusCode() == http.StatusTooManyRequests:
				limited.Add(1)
			default:
				other.Add(1)
				t.Errorf("status %d: %s", res.StatusCode(), res.Body)
			}
		})
	}
	close(start)
	wg.Wait()
	if okN.Load() != ceiling || limited.Load() != requests-ceiling || other.Load() != 0 {
		t.Fatalf("%d answered OK, %d refused, %d otherwise; want %d OK", okN.Load(), limited.Load(), other.Load(), ceiling)
	}
	if err := deliverAll(a, b); err != nil {
		t.Fatal(err)
	}
	if n := f.count(""); n != ceiling {
		t.Fatalf("%d texts left, ceiling %d", n, ceiling)
	}
}

// TestSMSAdminPhone: the admin API sets and clears a number; a number is one user's at most.
func TestSMSAdminPhone(t *testing.T) {
	h := servertest.Start(t, adminSecretOn, func(c *server.Config) { c.SMS.DefaultRegion = "DE" })
	ctx := context.Background()
	one := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "phone-one@example.com"})
	two := adminCreate(t, h, gen.AdminCreateUserRequest{Email: "phone-two@example.com"})
	verified := true
	r, err := h.Client.AdminSetUserPhoneWithResponse(ctx, one.User.Id, gen.AdminSetPhoneRequest{PhoneNumber: "0151 2345 6789", Verified: &verified}, asAdmin)
	if err != nil || r.JSON200 == nil || r.JSON200.PhoneNumber == nil || *r.JSON200.PhoneNumber != phone || !r.JSON200.PhoneNumberVerified {
		t.Fatalf("set: %v %s", err, r.Body)
	}
	h.NoWrites(t, func() {
		r, err := h.Client.AdminSetUserPhoneWithResponse(ctx, two.User.Id, gen.AdminSetPhoneRequest{PhoneNumber: "+49 151 23456789"}, asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		adminErr(t, r.StatusCode(), r.Body, http.StatusConflict, "conflict")
		r, err = h.Client.AdminSetUserPhoneWithResponse(ctx, two.User.Id, gen.AdminSetPhoneRequest{PhoneNumber: "not a number"}, asAdmin)
		if err != nil {
			t.Fatal(err)
		}
		adminErr(t, r.StatusCode(), r.Body, http.StatusBadRequest, "invalid-request")
	})
	c, err := h.Client.AdminClearUserPhoneWithResponse(ctx, one.User.Id, asAdmin)
	if err != nil || c.JSON200 == nil || c.JSON200.PhoneNumber != nil || c.JSON200.PhoneNumberVerified {
		t.Fatalf("clear: %v %s", err, c.Body)
	}
	// Free again: the other user may have it.
	r, err = h.Client.AdminSetUserPhoneWithResponse(ctx, two.User.Id, gen.AdminSetPhoneRequest{PhoneNumber: phone}, asAdmin)
	if err != nil || r.JSON200 == nil || r.JSON200.PhoneNumberVerified {
		t.Fatalf("set on the other user: %v %s", err, r.Body)
	}
}

// TestNhostJSClientSMS drives SMS sign-in with the published @nhost/nhost-js SDK
// (e2e/nhostjs/sms.mjs): the texts go to the fake Twilio, and the script reads them through a
// small endpoint here.
func TestNhostJSClientSMS(t *testing.T) {
	node, abs := nodePackage(t, "../e2e/nhostjs", "@nhost/nhost-js")
	f := startFakeTwilio(t)
	h := servertest.Start(t, smsOn(f))
	smsbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		x, err := f.wait(ctx, to)
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"body": x.Body, "code": sixDigits.FindString(x.Body)})
	}))
	defer smsbox.Close()
	runNode(t, node, abs, "@nhost/nhost-js (sms)", []string{"LATCHKEY_URL=" + h.URL, "SMSBOX_URL=" + smsbox.URL}, "sms.mjs")
}
