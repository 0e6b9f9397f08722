package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// opsError is the error body of the operations endpoints (OpsError in the contract).
type opsError struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// wantOpsError fails unless the answer is status in the ops error shape.
func wantOpsError(t *testing.T, what string, status int, body []byte, want int) {
	t.Helper()
	var e opsError
	if status != want {
		t.Fatalf("%s: %d %s, want %d", what, status, body, want)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Status != want || e.Error == "" || e.Message == "" {
		t.Fatalf("%s: body %s is not an ops error of status %d (%v)", what, body, want, err)
	}
}

// TestMetricsNotPublic: the metrics tell failed sign-ins and admin API use apart, so on the API
// port they answer only to the metrics secret as a bearer token (401 with a challenge
// otherwise), and not at all (404) when no secret is set; MetricsHandler serves them for a
// listener of their own.
func TestMetricsNotPublic(t *testing.T) {
	h := servertest.Start(t)
	signUp(t, h, "metrics@example.com", "correct-horse")
	for name, header := range map[string]map[string]string{
		"no credentials":      nil,
		"wrong secret":        {"Authorization": "Bearer " + servertest.MetricsToken + "x"},
		"secret prefix":       {"Authorization": "Bearer " + servertest.MetricsToken[:20]},
		"secret not bearer":   {"Authorization": servertest.MetricsToken},
		"basic":               {"Authorization": "Basic " + servertest.MetricsToken},
		"access token":        {"Authorization": "Bearer " + signIn(t, h, "metrics@example.com", "correct-horse").AccessToken},
		"secret in the query": nil,
	} {
		path := "/metrics"
		if name == "secret in the query" {
			path += "?token=" + servertest.MetricsToken
		}
		var hdr http.Header
		var status int
		var body []byte
		h.NoWrites(t, func() { hdr, status, body = h.Send(t, http.MethodGet, path, header, "") })
		wantOpsError(t, "GET /metrics, "+name, status, body, http.StatusUnauthorized)
		if got := hdr.Get("WWW-Authenticate"); got != `Bearer realm="metrics"` {
			t.Errorf("GET /metrics, %s: WWW-Authenticate %q, want the bearer challenge", name, got)
		}
		if strings.Contains(string(body), "latchkey_") {
			t.Errorf("GET /metrics, %s: the refusal holds metrics: %s", name, body)
		}
	}
	m := h.Metrics(t)
	if !strings.Contains(m, `latchkey_http_requests_total{code="200",operation="SignUpEmailPassword"} 1`) ||
		!strings.Contains(m, `latchkey_http_requests_total{code="401",operation="OpsMetrics"}`) {
		t.Errorf("GET /metrics with the secret lacks the request counts:\n%.800s", m)
	}

	// The listener of their own (LATCHKEY_METRICS_ADDR) serves the same figures, no secret needed.
	ms := httptest.NewServer(h.Server.MetricsHandler())
	t.Cleanup(ms.Close)
	res, err := http.Get(ms.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), `latchkey_http_requests_total{code="200",operation="SignUpEmailPassword"} 1`) {
		t.Errorf("MetricsHandler: %d\n%.800s", res.StatusCode, raw)
	}

	// Without a metrics secret, the API port does not serve them at all.
	off := servertest.Start(t, func(c *server.Config) { c.MetricsToken = "" })
	for name, header := range map[string]map[string]string{
		"no credentials": nil,
		"a bearer token": {"Authorization": "Bearer " + servertest.MetricsToken},
	} {
		var status int
		var body []byte
		off.NoWrites(t, func() { status, body = off.Do(t, http.MethodGet, "/metrics", header, "") })
		wantOpsError(t, "GET /metrics without a metrics secret, "+name, status, body, http.StatusNotFound)
	}
}
