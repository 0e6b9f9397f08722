// Package servertest runs a real Latchkey for HTTP tests: a real store (SQLite or PostgreSQL, as
// storetest picks), real TCP on 127.0.0.1, the generated client as the caller, an injected clock,
// and every response checked against the contract before it reaches the caller.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/internal/sealed"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/store/testdb"
)

// ClientURL is the application URL test servers redirect to by default.
const ClientURL = "https://app.latchkey.test"

// MetricsToken is the bearer secret that opens GET /metrics on test servers (see Metrics).
const MetricsToken = "test-metrics-token-0123456789-abcdefghij"

// FastPasswordParams make tests quick: argon2id with tiny costs. One test checks the defaults.
var FastPasswordParams = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Secrets is the secrets keyring of every test server: one fixed key, so the instances of a test
// (Harness.Another) share it as a deployment's must.
var Secrets = func() *sealed.Keyring {
	k, err := sealed.NewKey([]byte("latchkey test secrets key 32 by!"))
	if err != nil {
		panic(err)
	}
	return sealed.NewKeyring(k)
}()

// Harness is one running server and the means to talk to it.
type Harness struct {
	URL    string
	Client *gen.ClientWithResponses // the generated client, as real Go callers use it
	HTTP   *http.Client             // for deliberately malformed requests
	Store  *store.Store
	Clock  *testdb.Clock
	Server *server.Server
	Logs   *LogBuffer // everything the server logged, for tests that look for leaks
	Mail   *MailSink  // the SMTP server the server delivers to
}

// Start runs a server with the default configuration and cheap password hashing; options
// adjust the config.
func Start(t *testing.T, opts ...func(*server.Config)) *Harness {
	t.Helper()
	clock := testdb.NewClock()
	st := testdb.Open(t, testdb.Options{Now: clock.Now})
	return startOn(t, st, clock, opts)
}

// Another starts a second server on the same store and clock: two instances of one deployment.
func (h *Harness) Another(t *testing.T, opts ...func(*server.Config)) *Harness {
	t.Helper()
	return startOn(t, h.Store, h.Clock, opts)
}

// StartOn is Start on a store the test opened itself (through a proxy it can cut, say), whose
// clock is clock.
func StartOn(t *testing.T, st *store.Store, clock *testdb.Clock, opts ...func(*server.Config)) *Harness {
	t.Helper()
	return startOn(t, st, clock, opts)
}

func startOn(t *testing.T, st *store.Store, clock *testdb.Clock, opts []func(*server.Config)) *Harness {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Version, cfg.PasswordHashParams = "0.0.0-test", FastPasswordParams
	cfg.ClientURL = ClientURL
	cfg.MetricsToken = MetricsToken
	// The suite sends far more from 127.0.0.1 than one person would; the limits still count
	// every request, but only tests of the limits set allowances small enough to refuse.
	cfg.RateLimitGroups = map[string]server.RateLimit{}
	for _, g := range server.LimitGroups {
		cfg.RateLimitGroups[g] = server.RateLimit{Requests: 1 << 30, Window: time.Minute}
	}
	cfg.CodeGuessLimit.Requests = 1 << 30  // likewise the cap on code guesses
	ts := httptest.NewUnstartedServer(nil) // its address goes into mailed links
	t.Cleanup(ts.Close)
	cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	for _, o := range opts {
		o(&cfg)
	}
	logs := &LogBuffer{}
	registerLog(t.Name(), logs)
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sink := StartMailSink(t)
	mailer, err := mail.NewSMTP(mail.SMTPConfig{Host: sink.Host, Port: sink.Port, TLS: mail.TLSNone,
		From: "Latchkey Test <no-reply@latchkey.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WatchWrites(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Deps{Store: st, Logger: log, Now: clock.Now, Config: cfg, Mailer: mailer,
		Secrets: Secrets})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	ts.Config.Handler = contractChecked(t, srv.Handler())
	ts.Start()
	t.Cleanup(cancel) // cleanups run last-registered first: the server stops before its listener
	hc := ts.Client()
	// Redirects are answers to check, not to follow: mailed links send browsers to the app.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c, err := gen.NewClientWithResponses(ts.URL, gen.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return &Harness{URL: ts.URL, Client: c, HTTP: hc, Store: st, Clock: clock, Server: srv, Logs: logs, Mail: sink}
}

// LogBuffer collects a server's log lines; safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Metrics reads GET /metrics on the API port with the metrics secret, failing unless it answers 200.
func (h *Harness) Metrics(t *testing.T) string {
	t.Helper()
	status, body := h.Do(t, http.MethodGet, "/metrics", map[string]string{"Authorization": "Bearer " + MetricsToken}, "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics with the metrics secret: %d %s", status, body)
	}
	return string(body)
}

// Bearer sends an access token.
func Bearer(token string) gen.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// Do sends a raw request (its response is still checked against the contract) and returns the
// status and body.
func (h *Harness) Do(t *testing.T, method, path string, header map[string]string, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return h.DoReader(t, method, path, header, rd)
}

// DoReader is Do with the body read from rd. A reader whose length net/http cannot tell (not a
// *strings.Reader, *bytes.Reader or *bytes.Buffer) goes out chunked, without Content-Length.
func (h *Harness) DoReader(t *testing.T, method, path string, header map[string]string, rd io.Reader) (int, []byte) {
	t.Helper()
	_, status, body := h.send(t, method, path, header, rd)
	return status, body
}

// Send is Do that also returns the response headers.
func (h *Harness) Send(t *testing.T, method, path string, header map[string]string, body string) (http.Header, int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return h.send(t, method, path, header, rd)
}

func (h *Harness) send(t *testing.T, method, path string, header map[string]string, rd io.Reader) (http.Header, int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := h.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.Header, res.StatusCode, b
}

// Counts is the number of rows in every table.
func (h *Harness) Counts(t *testing.T) map[string]int64 {
	t.Helper()
	c, err := h.Store.RowCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Rows is what a test compares to tell whether anything was written: for every table, the rows
// inserted, updated or deleted since the harness started (store.WatchWrites), so an update
// that keeps the row counts shows too.
type Rows map[string]int64

// Rows reads the tables' write counts.
func (h *Harness) Rows(t *testing.T) Rows {
	t.Helper()
	w, err := h.Store.Writes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Counters are the tables that count requests rather than hold anyone's state: the rate-limit
// counters. The limiter counts every request that passes the contract, before its handler runs,
// so a well-formed request that is then refused (a wrong password, a spent ticket, a taken
// address) has been counted, and must be: a limit that counted only successes would let a guesser
// try for ever as long as every guess failed. So Changed and NoWrites leave the counters out, as
// the write watch leaves out a credential's last use; ChangedAll and NoWritesAtAll keep them, for
// requests the contract refuses, which the limiter never sees. Lockouts are not counters: a
// failure counted or a lock set or extended is an account's state, and always shows.
var Counters = []string{"rate_limits"}

// Changed describes the tables written between r and after, except the tables named and the
// Counters; "" when none was.
func (r Rows) Changed(after Rows, except ...string) string {
	return r.ChangedAll(after, slices.Concat(except, Counters)...)
}

// ChangedAll is Changed with the Counters watched too.
func (r Rows) ChangedAll(after Rows, except ...string) string {
	var out []string
	for _, table := range store.Tables {
		if n := after[table] - r[table]; n != 0 && !slices.Contains(except, table) {
			out = append(out, fmt.Sprintf("%s: %d rows", table, n))
		}
	}
	return strings.Join(out, ", ")
}

// NoWrites runs fn and fails if any table's rows changed (inserted, updated or deleted), except
// the tables named and the Counters.
func (h *Harness) NoWrites(t *testing.T, fn func(), except ...string) {
	t.Helper()
	h.NoWritesAtAll(t, fn, slices.Concat(except, Counters)...)
}

// NoWritesAtAll is NoWrites with the Counters watched too: for requests no limiter may count.
func (h *Harness) NoWritesAtAll(t *testing.T, fn func(), except ...string) {
	t.Helper()
	before := h.Rows(t)
	fn()
	if changed := before.ChangedAll(h.Rows(t), except...); changed != "" {
		t.Errorf("rows written: %s", changed)
	}
}

// NhostError decodes a Nhost ErrorResponse body and fails when it is not one.
func NhostError(t *testing.T, body []byte) gen.ErrorResponse {
	t.Helper()
	var e gen.ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Message == "" || e.Status == 0 {
		t.Fatalf("not a Nhost ErrorResponse: %s", body)
	}
	return e
}

// --- contract checking and coverage

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error

	covMu    sync.Mutex
	coverage = map[string]map[int]int{} // operationId → status → count
)

func router() (routers.Router, error) {
	specOnce.Do(func() {
		var spec *openapi3.T
		spec, specErr = gen.GetSpec()
		if specErr != nil {
			return
		}
		spec.Servers = openapi3.Servers{{URL: "/"}}
		specRouter, specErr = gorillamux.NewRouter(spec)
	})
	return specRouter, specErr
}

func init() {
	// Bodies the contract declares in media types kin-openapi has no decoder for.
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/png"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// responseOptions check responses the way the server checks requests, plus undeclared statuses.
var responseOptions = &openapi3filter.Options{
	IncludeResponseStatus: true,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{
		openapi3.WithStringFormatValidators(server.FormatValidators()),
	},
}

// contractChecked wraps the server so that every response is validated against the contract
// (status declared, body matching its schema) before the caller sees it, whoever the caller is:
// the generated client, a raw request, or the Node client.
func contractChecked(t *testing.T, next http.Handler) http.Handler {
	r, err := router()
	if err != nil {
		t.Fatalf("contract router: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		tee := &teeBody{ReadCloser: req.Body}
		req.Body = tee
		next.ServeHTTP(rec, req)
		res := rec.Result()
		body := rec.Body.Bytes()
		harvest(req, tee.buf.Bytes(), res.Header, body)

		route, params, ferr := r.FindRoute(req)
		switch {
		case ferr != nil && req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" &&
			res.StatusCode == http.StatusNoContent:
			// A CORS preflight, answered before routing.
			if len(body) != 0 {
				t.Errorf("OPTIONS %s: preflight answer has a body: %s", req.URL.Path, body)
			}
		case ferr != nil:
			// No operation: only Latchkey's own not-found and method answers may come back.
			if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s matches no operation but answered %d: %s", req.Method, req.URL.Path, res.StatusCode, body)
			}
			if !json.Valid(body) {
				t.Errorf("%s %s: unmatched-route answer is not JSON: %s", req.Method, req.URL.Path, body)
			}
		default:
			in := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
				Status:                 res.StatusCode,
				Header:                 res.Header,
				Options:                responseOptions,
			}
			in.SetBodyBytes(body)
			if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
				t.Errorf("%s %s: response %d violates the contract (%s): %v\nbody: %.500s",
					req.Method, req.URL.Path, res.StatusCode, route.Operation.OperationID, err, body)
			}
			covMu.Lock()
			if coverage[route.Operation.OperationID] == nil {
				coverage[route.Operation.OperationID] = map[int]int{}
			}
			coverage[route.Operation.OperationID][res.StatusCode]++
			covMu.Unlock()
		}
		maps.Copy(w.Header(), res.Header)
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

// Uncovered lists the contract's operations that no test has called with a success answer: a
// 2xx, or a 3xx for operations whose contract declares no 2xx (their success is a redirect).
func Uncovered() ([]string, error) {
	covMu.Lock()
	defer covMu.Unlock()
	return uncovered(coverage)
}

// WriteCoverage saves what this process's servers answered, per operation and status, to path
// as JSON: a run split over several processes (make test's shards) checks their union with
// UncoveredIn.
func WriteCoverage(path string) error {
	covMu.Lock()
	b, err := json.Marshal(coverage)
	covMu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// UncoveredIn is Uncovered over the union of files written by WriteCoverage.
func UncoveredIn(files ...string) ([]string, error) {
	union := map[string]map[int]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var part map[string]map[int]int
		if err := json.Unmarshal(b, &part); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for op, statuses := range part {
			if union[op] == nil {
				union[op] = map[int]int{}
			}
			for status, n := range statuses {
				union[op][status] += n
			}
		}
	}
	return uncovered(union)
}

// uncovered lists the contract's operations that coverage holds no successful answer of.
func uncovered(coverage map[string]map[int]int) ([]string, error) {
	spec, err := gen.GetSpec()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			lo := 200
			if !declares2xx(op) {
				lo = 300
			}
			ok := false
			for status := range coverage[op.OperationID] {
				ok = ok || (status >= lo && status < lo+100)
			}
			if !ok {
				missing = append(missing, op.OperationID)
			}
		}
	}
	return missing, nil
}

func declares2xx(op *openapi3.Operation) bool {
	for code := range op.Responses.Map() {
		if strings.HasPrefix(code, "2") {
			return true
		}
	}
	return false
}

// ContractTransport checks, on the client side, every answer that comes through next against the
// contract (status declared, body matching its schema) and fails t when one does not: for tests
// whose servers are other processes, which contractChecked cannot wrap.
func ContractTransport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	return &contractTransport{t: t, next: next}
}

type contractTransport struct {
	t    testing.TB
	next http.RoundTripper
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	r, err := router()
	if err != nil {
		c.t.Errorf("contract router: %v", err)
		return res, nil
	}
	route, params, err := r.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s matches no operation of the contract", req.Method, req.URL.Path)
		return res, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                responseOptions,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		c.t.Errorf("%s %s: answer %d violates the contract (%s): %v\nbody: %.500s",
			req.Method, req.URL.Path, res.StatusCode, route.Operation.OperationID, err, body)
	}
	return res, nil
}
