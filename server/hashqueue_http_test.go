package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// oneHashSlot is a server with one password-hashing slot and the given queue deadline.
func oneHashSlot(deadline time.Duration) func(*server.Config) {
	return func(c *server.Config) {
		c.PasswordHashBudget = int64(servertest.FastPasswordParams.Memory) * 1024
		c.HashQueueTimeout = deadline
	}
}

// TestHashQueueRefusesFast: when the hashing queue cannot start a hash within its deadline,
// every password operation answers 503 with Retry-After in its dialect's shape at once, writes
// nothing and opens no session; an unknown account gets the same answer as a known one.
func TestHashQueueRefusesFast(t *testing.T) {
	const pw = "j8BDWYrQwDF5u4Yu-queue"
	// An hour's deadline: a caller that waited it out would hit the request context's timeout
	// below instead. The queue predicts two hours, so it refuses at once, with Retry-After at its
	// cap of a minute.
	h := servertest.Start(t, oneHashSlot(time.Hour))
	wmeUser(t, h, "queued", "queued@example.com", pw)
	release := server.HoldHashSlots(h.Server, 2*time.Hour)
	defer func() { release() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	h.NoWrites(t, func() {
		for _, email := range []string{"queued@example.com", "nobody@example.com"} {
			res, err := h.Client.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{
				Email: openapi_types.Email(email), Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusServiceUnavailable || res.JSON503 == nil || res.JSON503.Status != http.StatusServiceUnavailable {
				t.Fatalf("nhost sign-in %s with a full queue: %d %s", email, res.StatusCode(), res.Body)
			}
			if res.Headers503 == nil || res.Headers503.RetryAfter == nil || *res.Headers503.RetryAfter != 60 {
				t.Errorf("nhost sign-in %s: Retry-After %v, want 60", email, res.HTTPResponse.Header.Get("Retry-After"))
			}
		}

		res, err := h.Client.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
			Email: "newcomer@example.com", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() != http.StatusServiceUnavailable || res.HTTPResponse.Header.Get("Retry-After") != "60" {
			t.Errorf("nhost sign-up with a full queue: %d, Retry-After %q", res.StatusCode(), res.HTTPResponse.Header.Get("Retry-After"))
		}

		// WME: its {message, status} shape (the client checks it).
		for _, user := range []string{"queued", "nobody"} {
			_, status, e := newWMEClient(t, h).login(user, pw)
			if status != http.StatusServiceUnavailable || int(e["status"].(float64)) != http.StatusServiceUnavailable {
				t.Errorf("wme login %s with a full queue: %d %v", user, status, e)
			}
		}

		// Authentication Zero: {"error": …} (azDo checks the shape) and the header.
		a := azDo(t, h, http.MethodPost, "/sign_in", "", azJSONBody, "email", "queued@example.com", "password", pw)
		a.want(t, "az sign in with a full queue", http.StatusServiceUnavailable)
		if ra := a.header.Get("Retry-After"); ra != "60" {
			t.Errorf("az sign in: Retry-After %q, want 60", ra)
		}
	})
	if ctx.Err() != nil {
		t.Fatal("the refusals waited instead of answering at once")
	}
	// Six refusals, all predicted; nobody is left waiting.
	metrics := h.Metrics(t)
	for _, line := range []string{`latchkey_password_hash_refusals_total{reason="predicted"} 6`,
		`latchkey_password_hash_refusals_total{reason="deadline"} 0`, "latchkey_password_hash_queue_depth 0",
		`latchkey_http_unavailable_duration_seconds_count{operation="SignInEmailPassword"} 2`} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("GET /metrics lacks %q", line)
		}
	}

	// Once the slots are free, the same sign-in works.
	release()
	release = func() {}
	if s := signIn(t, h, "queued@example.com", pw); s.AccessToken == "" {
		t.Fatal("sign-in after the queue drained: no session")
	}
}

// TestHashQueueDeadline: when the estimate says the wait is short but the slot does not come,
// the wait still ends at the deadline with a 503 and a Retry-After of at least a second.
func TestHashQueueDeadline(t *testing.T) {
	const pw = "j8BDWYrQwDF5u4Yu-deadline"
	h := servertest.Start(t, oneHashSlot(20*time.Millisecond))
	signUp(t, h, "waiter@example.com", pw)
	release := server.HoldHashSlots(h.Server, time.Nanosecond) // predicts no wait at all
	defer release()

	h.NoWrites(t, func() {
		res, err := h.Client.SignInEmailPasswordWithResponse(context.Background(), gen.SignInEmailPasswordJSONRequestBody{
			Email: "waiter@example.com", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode() != http.StatusServiceUnavailable || res.JSON503 == nil {
			t.Fatalf("sign-in past the deadline: %d %s", res.StatusCode(), res.Body)
		}
		if ra, _ := strconv.Atoi(res.HTTPResponse.Header.Get("Retry-After")); ra < 1 {
			t.Errorf("Retry-After %q, want at least 1", res.HTTPResponse.Header.Get("Retry-After"))
		}

		// Zesty Auth: its {code, message, data} envelope.
		status, out := zestyLogin(t, h, "json", "waiter@example.com", pw)
		if status != http.StatusServiceUnavailable || out["code"] != float64(http.StatusServiceUnavailable) {
			t.Errorf("zesty login past the deadline: %d %v", status, out)
		}
	})
}

// TestHashSlotMetrics: every hash is counted in latchkey_password_hashes_total, and the time it
// held its slot in latchkey_password_hash_slot_seconds_total (an operator's measure of the
// slots' utilization).
func TestHashSlotMetrics(t *testing.T) {
	h := servertest.Start(t)
	read := func() (hashes, seconds float64) {
		for line := range strings.Lines(h.Metrics(t)) {
			name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(value, 64)
			switch name {
			case "latchkey_password_hashes_total":
				hashes = v
			case "latchkey_password_hash_slot_seconds_total":
				seconds = v
			default:
				continue
			}
			if err != nil {
				t.Fatalf("GET /metrics: %q: %v", line, err)
			}
		}
		return hashes, seconds
	}
	h0, s0 := read()
	const pw = "j8BDWYrQwDF5u4Yu-count"
	signUp(t, h, "counted@example.com", pw)
	signIn(t, h, "counted@example.com", pw)
	h1, s1 := read()
	if h1-h0 != 2 {
		t.Errorf("latchkey_password_hashes_total went from %v to %v over a sign-up and a sign-in, want +2", h0, h1)
	}
	if s1 <= s0 {
		t.Errorf("latchkey_password_hash_slot_seconds_total went from %v to %v over two hashes", s0, s1)
	}
}
