package server

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/openapi"
)

// TestSpecLint keeps the contract's house rules: it validates; every operation has exactly one
// dialect tag and a unique operationId; every 4xx/5xx of a dialect uses that dialect's error
// schema; and the embedded spec is the committed openapi.yaml.
func TestSpecLint(t *testing.T) {
	spec, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(t.Context()); err != nil {
		t.Fatalf("contract does not validate: %v", err)
	}
	errorSchema := map[dialect]string{dialectNhost: "#/components/schemas/ErrorResponse", dialectWME: "#/components/schemas/WmeError", dialectZesty: "#/components/schemas/ZestyError", dialectAdmin: "#/components/schemas/AdminError", dialectAZ: "#/components/schemas/AzError"}
	ids := map[string]string{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if len(op.Tags) != 1 {
				t.Errorf("%s: tags %v, want exactly one dialect tag", where, op.Tags)
				continue
			}
			d, ok := dialectByTag[op.Tags[0]]
			if !ok {
				t.Errorf("%s: unknown dialect tag %q", where, op.Tags[0])
			}
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s also used by %s", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if op.Responses.Default() != nil {
				t.Errorf("%s: 'default' response; declare each status so undeclared ones fail tests", where)
			}
			want, checked := errorSchema[d]
			for code, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					// A range ("4XX") would let any status of it through unchecked, like 'default'.
					t.Errorf("%s: response %q; declare each status as a number", where, code)
					continue
				}
				if status < 400 || !checked || method == http.MethodHead { // HEAD answers carry no body
					continue
				}
				want := want
				if d == dialectAZ && status == http.StatusUnprocessableEntity {
					want = "#/components/schemas/AzFieldErrors" // Rails' per-field errors
				}
				mt := ref.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Ref != want {
					t.Errorf("%s: %s answers with %v, want %s", where, code, schemaRef(mt), want)
				}
			}
		}
	}
	raw, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		t.Fatalf("embedded openapi.yaml: %v", err)
	}
	if len(raw.Paths.Map()) != len(spec.Paths.Map()) {
		t.Errorf("openapi.yaml has %d paths, the generated spec %d: run make generate", len(raw.Paths.Map()), len(spec.Paths.Map()))
	}
}

func schemaRef(mt *openapi3.MediaType) string {
	if mt == nil || mt.Schema == nil {
		return "no JSON schema"
	}
	return mt.Schema.Ref
}

// TestEveryCodeRendersInEveryDialect: each client-visible failure has a status of 400 or more
// and a body in each dialect, and the Nhost table covers every code explicitly.
func TestEveryCodeRendersInEveryDialect(t *testing.T) {
	s := &Server{cfg: DefaultConfig()}
	for _, d := range []dialect{dialectNhost, dialectWME, dialectZesty, dialectAZ, dialectAdmin, dialectOps, dialectPlain} {
		for _, code := range Codes {
			r := d.render(s, &Error{Code: code}, "")
			if r.Status < 400 || r.Body == nil {
				t.Errorf("dialect=%s code=%s: status %d body %v", d, code, r.Status, r.Body)
			}
		}
	}
	for _, code := range Codes {
		if _, ok := nhostErrors[code]; !ok {
			t.Errorf("nhostErrors has no entry for %s", code)
		}
	}
	s.cfg.ConcealErrors = true
	for code := range nhostSensitive {
		body := renderNhost(s, &Error{Code: code}).Body.(gen.ErrorResponse)
		if body.Error != gen.ErrorResponseErrorInvalidRequest || body.Status != 400 {
			t.Errorf("conceal mode: %s rendered as %d %s, want 400 invalid-request", code, body.Status, body.Error)
		}
	}
}

// TestEchoPath covers the translation of contract paths into Echo routes.
func TestEchoPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/user":                "/v1/user",
		"/docs/{asset}":           "/docs/:asset",
		"/v1/instances/{a}/u/{b}": "/v1/instances/:a/u/:b",
	} {
		if got := echoPath(in); got != want {
			t.Errorf("echoPath(%q) = %q, want %q", in, got, want)
		}
	}
}
