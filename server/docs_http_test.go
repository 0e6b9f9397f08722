package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey/latchkey/openapi"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestOpenAPIJSONIsTheContract: /openapi.json, which /docs and generators read, is the committed
// contract in JSON, operationIds included, and its one server is the Latchkey that serves it (a
// URL relative to the document, with the path of --public-url), so "Try it out" calls this
// server from whatever host the page was opened on.
func TestOpenAPIJSONIsTheContract(t *testing.T) {
	for _, tc := range []struct{ publicURL, server string }{
		{"", "/"},
		{"https://auth.example.com/latchkey/", "/latchkey"},
	} {
		h := servertest.Start(t, func(c *server.Config) {
			if tc.publicURL != "" {
				c.PublicURL = tc.publicURL
			}
		})
		code, body := h.Do(t, http.MethodGet, "/openapi.json", nil, "")
		if code != http.StatusOK {
			t.Fatalf("GET /openapi.json: %d %.200s", code, body)
		}
		served, err := openapi3.NewLoader().LoadFromData(body)
		if err != nil {
			t.Fatalf("GET /openapi.json is no OpenAPI document: %v", err)
		}
		committed, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for path, item := range committed.Paths.Map() {
			for method, op := range item.Operations() {
				got := served.Paths.Find(path)
				if got == nil || got.GetOperation(method) == nil {
					t.Errorf("%s %s missing from /openapi.json", method, path)
					continue
				}
				if id := got.GetOperation(method).OperationID; id != op.OperationID {
					t.Errorf("%s %s: operationId %q in /openapi.json, %q in the contract", method, path, id, op.OperationID)
				}
				n++
			}
		}
		if n != len(operationsOf(served)) {
			t.Errorf("/openapi.json has %d operations, the contract %d", len(operationsOf(served)), n)
		}
		var raw struct {
			Servers []struct{ URL string } `json:"servers"`
		}
		if err := json.Unmarshal(body, &raw); err != nil || len(raw.Servers) != 1 || raw.Servers[0].URL != tc.server {
			t.Errorf("public URL %q: servers %+v, want one, %q", tc.publicURL, raw.Servers, tc.server)
		}
	}
}

func operationsOf(doc *openapi3.T) []*openapi3.Operation {
	var ops []*openapi3.Operation
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			ops = append(ops, op)
		}
	}
	return ops
}
