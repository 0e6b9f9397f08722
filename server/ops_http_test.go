package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/openapi"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestOpsEndpoints: probes, the contract in both forms, the docs page with its embedded assets,
// metrics, and the Nhost system routes.
func TestOpsEndpoints(t *testing.T) {
	h := servertest.Start(t)
	ctx := context.Background()

	for _, path := range []string{"/healthz", "/readyz", "/v1/healthz"} {
		if code, body := h.Do(t, http.MethodGet, path, nil, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if code, body := h.Do(t, http.MethodHead, "/v1/healthz", nil, ""); code != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD /v1/healthz: %d %q", code, body)
	}
	ready, err := h.Client.OpsReadyzWithResponse(ctx)
	if err != nil || ready.JSON200 == nil || (*ready.JSON200.Checks)["database"] != "ok" {
		t.Fatalf("readyz: %v %s", err, ready.Body)
	}

	code, body := h.Do(t, http.MethodGet, "/openapi.yaml", nil, "")
	if code != http.StatusOK || string(body) != string(openapi.YAML) {
		t.Errorf("GET /openapi.yaml: %d, %d bytes; want the committed file", code, len(body))
	}
	code, body = h.Do(t, http.MethodGet, "/openapi.json", nil, "")
	var doc map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &doc) != nil || doc["openapi"] != "3.0.3" {
		t.Errorf("GET /openapi.json: %d %.100s", code, body)
	}

	code, body = h.Do(t, http.MethodGet, "/docs", nil, "")
	if code != http.StatusOK || !strings.Contains(string(body), "swagger-ui-bundle.js") || strings.Contains(string(body), "cdn") {
		t.Errorf("GET /docs: %d %.200s", code, body)
	}
	for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"} {
		if code, body := h.Do(t, http.MethodGet, "/docs/"+asset, nil, ""); code != http.StatusOK || len(body) < 100 {
			t.Errorf("GET /docs/%s: %d, %d bytes", asset, code, len(body))
		}
	}
	if code, _ := h.Do(t, http.MethodGet, "/docs/nope.js", nil, ""); code != http.StatusNotFound {
		t.Errorf("GET /docs/nope.js: %d, want 404", code)
	}

	if m := h.Metrics(t); !strings.Contains(m, `latchkey_http_requests_total{code="200",operation="OpsHealthz"}`) ||
		!strings.Contains(m, "latchkey_password_hash_slots") {
		t.Errorf("GET /metrics: missing request counters:\n%.600s", m)
	}

	v, err := h.Client.GetVersionWithResponse(ctx)
	if err != nil || v.JSON200 == nil || v.JSON200.Version == "" {
		t.Errorf("version: %v %s", err, v.Body)
	}

	// Request ids: a plain caller-supplied id is echoed, anything else replaced.
	req := must(http.NewRequest(http.MethodGet, h.URL+"/healthz", nil))(t)
	req.Header.Set("X-Request-Id", "abc-123")
	res, err := h.HTTP.Do(req)
	if err != nil || res.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id not echoed: %v %q", err, res.Header.Get("X-Request-Id"))
	}
	req.Header.Set("X-Request-Id", "bad id <script>")
	res, err = h.HTTP.Do(req)
	if err != nil || res.Header.Get("X-Request-Id") == "" || strings.Contains(res.Header.Get("X-Request-Id"), " ") {
		t.Errorf("unsafe request id kept: %v %q", err, res.Header.Get("X-Request-Id"))
	}
	_ = gen.OpsStatusStatusOk
}

// TestUnknownRoutes: unknown paths get JSON errors in the shape their prefix implies.
func TestUnknownRoutes(t *testing.T) {
	h := servertest.Start(t)
	code, body := h.Do(t, http.MethodGet, "/v1/nope", nil, "")
	if e := servertest.NhostError(t, body); code != http.StatusNotFound || e.Status != 404 {
		t.Errorf("GET /v1/nope: %d %s", code, body)
	}
	code, body = h.Do(t, http.MethodDelete, "/v1/user", nil, "")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /v1/user: %d %s", code, body)
	}
	if code, _ := h.Do(t, http.MethodGet, "/nope", nil, ""); code != http.StatusNotFound {
		t.Errorf("GET /nope: %d", code)
	}
}
