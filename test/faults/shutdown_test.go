package faults

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server/servertest"
	"github.com/latchkey/latchkey/store"
)

const (
	shutdownTimeout = 15 * time.Second
	signIns         = 20
	// smtpTimeout bounds the mail attempt that is under way at SIGTERM.
	smtpTimeout = 3 * time.Second
)

// TestGracefulShutdown sends SIGTERM to a server that is hashing ~20 passwords with the real
// argon2id parameters (one at a time, so they queue) while its mail deliverer is stuck in a
// stalled SMTP transaction: new connections are refused at once, every sign-in under way
// completes with 200, the mail attempt is finished and recorded (not lost halfway), and the
// process exits 0 within the shutdown timeout.
func TestGracefulShutdown(t *testing.T) {
	db := newDatabase(t)
	sink := servertest.StartMailSink(t)
	sink.Stall()
	srv := startServer(t, "shutdown", db,
		"LATCHKEY_RATE_LIMITS=false",
		"LATCHKEY_LOCKOUT_THRESHOLD=0",
		"LATCHKEY_PASSWORD_HASH_MEMORY=20MiB", // one 19 MiB hash at a time: sign-ins queue
		"LATCHKEY_HASH_QUEUE_TIMEOUT=0",       // they queue for as long as it takes: this test is about the drain, not the queue deadline
		"LATCHKEY_SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
		"LATCHKEY_LOG_LEVEL=info",
		"LATCHKEY_SMTP_HOST="+sink.Host,
		"LATCHKEY_SMTP_PORT="+strconv.Itoa(sink.Port),
		"LATCHKEY_SMTP_TLS=none",
		"LATCHKEY_SMTP_FROM=Latchkey <no-reply@latchkey.test>",
		"LATCHKEY_SMTP_TIMEOUT="+smtpTimeout.String(),
	)
	ctx := context.Background()
	const email, password = "drain@example.com", "drain-password-1"
	res, err := srv.Client.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(email), Password: password})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("sign-up: %v %s", err, bodyOrNil(res))
	}
	// Two reset mails: the deliverer takes the first to the stalled SMTP server; the second
	// waits behind it.
	const other = "drain-other@example.com"
	if res, err := srv.Client.SignUpEmailPasswordWithResponse(ctx, gen.SignUpEmailPasswordJSONRequestBody{
		Email: openapi_types.Email(other), Password: password}); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("sign-up: %v %s", err, bodyOrNil(res))
	}
	for _, to := range []string{email, other} {
		rr, err := srv.Client.SendPasswordResetEmailWithResponse(ctx, gen.SendPasswordResetEmailJSONRequestBody{Email: openapi_types.Email(to)})
		if err != nil || rr.StatusCode() != http.StatusOK {
			t.Fatalf("reset request: %v", err)
		}
	}
	poll(t, "the deliverer reaching the stalled SMTP server", 10*time.Second, func() bool { return sink.Stalled() == 1 })

	// Each sign-in on its own connection, as separate clients would.
	statuses := make([]int, signIns)
	errs := make([]error, signIns)
	var answered atomic.Int32 // sign-ins whose call has returned, answer or error
	var wg sync.WaitGroup
	for i := range signIns {
		wg.Go(func() {
			defer answered.Add(1)
			c, err := gen.NewClientWithResponses(srv.URL, gen.WithHTTPClient(&http.Client{
				Timeout: 2 * shutdownTimeout, Transport: &http.Transport{DisableKeepAlives: true}}))
			if err != nil {
				errs[i] = err
				return
			}
			r, err := c.SignInEmailPasswordWithResponse(ctx, gen.SignInEmailPasswordJSONRequestBody{
				Email: openapi_types.Email(email), Password: password})
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = r.StatusCode()
		})
	}
	// SIGTERM once the server has taken every sign-in (in flight or done) and some are still in
	// flight. A request leaves the in-flight gauge before it is counted done, so the sum never
	// counts one twice.
	var inFlight float64
	var m map[string]float64
	defer func() {
		if t.Failed() {
			for k, v := range m {
				if strings.HasPrefix(k, "latchkey_http_requests_") {
					t.Logf("last scrape: %s %v", k, v)
				}
			}
		}
	}()
	poll(t, "every sign-in accepted", 30*time.Second, func() bool {
		m = scrape(t, srv.URL)
		inFlight = m[`latchkey_http_requests_in_flight{operation="SignInEmailPassword"}`]
		done := m[`latchkey_http_requests_total{code="200",operation="SignInEmailPassword"}`]
		return inFlight+done >= signIns
	})
	if inFlight == 0 {
		t.Fatal("every sign-in was done before SIGTERM: nothing was in flight to drain")
	}
	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	t.Logf("SIGTERM with %v sign-ins in flight", inFlight)

	// The refusal must be seen while the drain is under way: with a sign-in still unanswered.
	var unanswered int32
	poll(t, "new connections refused", 5*time.Second, func() bool {
		pending := signIns - answered.Load()
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		if errors.Is(err, syscall.ECONNRESET) {
			return false // the listener closed during this handshake: the next dial tells
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("a new connection after SIGTERM: %v, want refused", err)
		}
		unanswered = pending
		return true
	})
	if unanswered == 0 {
		t.Error("every sign-in had been answered before a new connection was refused: the refusal was not seen during the drain")
	}
	t.Logf("a new connection was refused with %d sign-ins unanswered", unanswered)

	wg.Wait()
	for i := range signIns {
		if errs[i] != nil || statuses[i] != http.StatusOK {
			t.Errorf("sign-in %d under way at SIGTERM: %v, status %d; want 200", i, errs[i], statuses[i])
		}
	}
	select {
	case <-srv.Done():
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM; log:\n%s", time.Since(sent), srv.LogTail(20))
	}
	if took := time.Since(sent); took > shutdownTimeout {
		t.Errorf("exited %v after SIGTERM, over the shutdown timeout %v", took, shutdownTimeout)
	}
	if err := srv.Err(); err != nil {
		t.Errorf("exit: %v, want status 0; log:\n%s", err, srv.LogTail(20))
	}
	log := srv.LogTail(1000)
	if !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", srv.LogTail(20))
	}
	if strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("errors logged during the shutdown:\n%s", log)
	}

	// The mail attempt under way at SIGTERM ran to its end and was recorded: the message waits
	// for a retry with its error, not silently leased by a process that is gone. The message
	// behind it was never tried, and is not counted as tried.
	checkOutbox(t, db)
}

// checkOutbox checks that the outbox holds two unsent messages: one whose attempt was recorded
// with its error, and one never tried.
func checkOutbox(t *testing.T, db database) {
	t.Helper()
	driver := "sqlite"
	if db.dialect == store.Postgres {
		driver = "pgx"
	}
	conn, err := sql.Open(driver, db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT attempts, last_error FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL ORDER BY attempts DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var attempts int
		var lastError string
		if err := rows.Scan(&attempts, &lastError); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("attempts=%d error=%t", attempts, lastError != ""))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"attempts=1 error=true", "attempts=0 error=false"}; !slices.Equal(got, want) {
		t.Errorf("outbox after the shutdown: %v; want %v (the attempt under way recorded, the next one untried)", got, want)
	}
}

// metricsToken is the metrics secret of the servers the tests start.
const metricsToken = "faults-metrics-token-0123456789-abcdefghij"

// scrape reads the server's metrics as "name{labels}" → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status) // not an empty scrape that the poll would wait out
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return out
}

// poll checks cond until it holds or the deadline passes (polling a condition, not timing).
func poll(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bodyOrNil(r *gen.SignUpEmailPasswordResult) string {
	if r == nil {
		return "<no answer>"
	}
	return fmt.Sprintf("%d %s", r.StatusCode(), r.Body)
}
