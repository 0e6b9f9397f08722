package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// The hostile-client test: every operation of the contract (read from gen.GetSpec, never listed
// by hand) gets malformed JSON, wrong types, missing and unknown fields, oversized bodies and
// strings, wrong media types, garbage credentials, odd Unicode and injection strings, with and
// without a real signed-in user's credentials. A malformed request must get a 4xx in the
// operation's dialect shape and write nothing. A well-formed request with hostile content (a
// string of odd Unicode or SQL in every string field) must not get a 5xx, and writes nothing
// unless it succeeds: storing "'; DROP TABLE users; --" as a display name is correct.

const hostileAdminSecret = "hostile-admin-secret-5521"

// hostileStrings are the odd Unicode and injection values put in every string field and
// parameter. Each is a JSON string literal (raw), so lone surrogates and NUL travel as escapes.
var hostileStrings = []string{
	`"\u0000"`,             // NUL
	`"a\u0000b"`,           // NUL inside
	`"\ud800"`,             // lone high surrogate
	`"x\udfffy"`,           // lone low surrogate
	`"\u202eevil\u202c"`,   // right-to-left override
	`"\ufeff\u200b\u200d"`, // BOM, zero-width space and joiner
	jsonString("e" + strings.Repeat("\u0301", 4000)),       // one very long grapheme cluster
	jsonString("👩‍👩‍👧‍👦" + strings.Repeat("\u200d👩", 500)), // a long ZWJ sequence
	jsonString("' OR '1'='1' --"),
	jsonString(`"; DROP TABLE users; --`),
	jsonString("{{7*7}}${7*7}<%= 7*7 %>#{7*7}"),
	jsonString("<script>alert(1)</script>"),
	jsonString("value\r\nX-Injected: 1\r\n\r\nbody"),
	jsonString("../../../../etc/passwd%00"),
	jsonString(strings.Repeat("A", 20000)), // long, within the body limit
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// dialectErrorSchema is the error body each dialect tag answers with (as TestSpecLint keeps it).
var dialectErrorSchema = map[string]string{
	"nhost": "ErrorResponse", "wme": "WmeError", "zesty": "ZestyError", "zesty-accounts": "ZestyError",
	"admin": "AdminError", "az": "AzError",
}

type hostileOp struct {
	tag, method, path string
	op                *openapi3.Operation
}

// hostileCreds are the credentials of one signed-in user in every scheme.
type hostileCreds map[string]string // security scheme → Authorization (or X-Admin-Secret) value

// hostileCase is one request and what it must get.
type hostileCase struct {
	name      string
	path      string // with the query
	header    map[string]string
	body      string
	malformed bool // true: a 4xx is required; false: anything but a 5xx, and 2xx may write
}

func TestHostileClients(t *testing.T) {
	spec, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string][]hostileOp{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			byTag[op.Tags[0]] = append(byTag[op.Tags[0]], hostileOp{tag: op.Tags[0], method: method, path: path, op: op})
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(byTag)) {
		ops := byTag[tag]
		slices.SortFunc(ops, func(a, b hostileOp) int { return strings.Compare(a.op.OperationID, b.op.OperationID) })
		t.Run(tag, func(t *testing.T) {
			t.Parallel()
			h := servertest.Start(t, func(c *server.Config) { c.AdminSecret = hostileAdminSecret })
			creds := signInEverywhere(t, h)
			// The cases run one after another on this harness, so each one's rows after are the
			// next one's rows before: one snapshot per case instead of two.
			rows := h.Rows(t)
			for _, o := range ops {
				t.Run(o.op.OperationID, func(t *testing.T) {
					for _, c := range hostileCases(spec, o, creds) {
						runHostileCase(t, spec, h, o, c, &rows)
					}
				})
			}
		})
	}
}

// signInEverywhere signs one user up and in through every dialect that has a session scheme.
func signInEverywhere(t *testing.T, h *servertest.Harness) hostileCreds {
	t.Helper()
	email := "hostile@example.com"
	s := signUp(t, h, email, pwOwner)
	_, az := azSignIn(t, h, email, pwOwner)
	return hostileCreds{
		"BearerAuth":         "Bearer " + s.AccessToken,
		"BearerAuthElevated": "Bearer " + s.AccessToken,
		"ZestySession":       zestyLoginAs(t, h, email, pwOwner),
		"AZSession":          "Bearer " + az,
		"AdminSecret":        hostileAdminSecret,
		"MetricsToken":       "Bearer " + servertest.MetricsToken,
	}
}

// runHostileCase sends one case; rows holds the harness's rows before it and is left holding them
// after it.
func runHostileCase(t *testing.T, spec *openapi3.T, h *servertest.Harness, o hostileOp, c hostileCase, rows *servertest.Rows) {
	t.Helper()
	before := *rows
	status, body := h.Do(t, o.method, c.path, c.header, c.body)
	after := h.Rows(t)
	*rows = after
	where := fmt.Sprintf("%s %s [%s]", o.method, o.path, c.name)
	switch {
	case status >= 500:
		t.Errorf("%s: %d, a server error: %.300s", where, status, body)
	case c.malformed && (status < 400 || status >= 500):
		t.Errorf("%s: %d for a malformed request, want a 4xx: %.300s", where, status, body)
	}
	var except []string
	// Authentication Zero answers a wrong current password with 400, not 401.
	wrongCurrent := o.tag == "az" && status == http.StatusBadRequest && bytes.Contains(body, []byte("The password you entered is incorrect"))
	if !c.malformed && (status == http.StatusUnauthorized || status == http.StatusForbidden || wrongCurrent) {
		// A well-formed sign-in that fails is audited (sign-in.failed) and counted toward the lock
		// of the name it gave (lockouts), as is a code guess toward the name's guess cap, as the
		// negative tables expect; nothing else may change.
		except = negWrongPassword
	}
	// A malformed request is refused by the contract before any limiter counts it: not even a
	// rate-limit counter may move. A well-formed one that is refused has been counted.
	changed := before.Changed(after, except...)
	if c.malformed {
		changed = before.ChangedAll(after, except...)
	}
	if (status < 200 || status >= 300) && changed != "" {
		t.Errorf("%s: answered %d but rows were written: %s", where, status, changed)
	}
	if status >= 400 && o.method != http.MethodHead {
		checkDialectShape(t, spec, where, o.tag, status, body)
	}
}

// checkDialectShape checks an error body against the dialect's error schema.
func checkDialectShape(t *testing.T, spec *openapi3.T, where, tag string, status int, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: error body is not JSON: %.300s", where, body)
		return
	}
	name, ok := dialectErrorSchema[tag]
	if !ok {
		return // the operations endpoints answer in the plain shape
	}
	if tag == "az" && status == http.StatusUnprocessableEntity {
		name = "AzFieldErrors"
	}
	if err := spec.Components.Schemas[name].Value.VisitJSON(v); err != nil {
		t.Errorf("%s: %d body is not a %s: %v: %.300s", where, status, name, err, body)
	}
}

// --- building the cases from the contract

func hostileCases(spec *openapi3.T, o hostileOp, creds hostileCreds) []hostileCase {
	auth, needsAuth := credentialsFor(o.op, spec, creds)
	params := paramsOf(o)
	withAuth := func(hd map[string]string) map[string]string {
		out := maps.Clone(hd)
		if out == nil {
			out = map[string]string{}
		}
		maps.Copy(out, auth)
		return out
	}
	var cases []hostileCase
	add := func(c hostileCase, authed bool) {
		if authed {
			c.header = withAuth(c.header)
			c.name += "/authed"
		}
		cases = append(cases, c)
	}
	basePath := buildPath(o.path, params, nil)

	// Garbage and missing credentials on operations that need them: always a 4xx.
	if needsAuth {
		bodyCT, body := baseBody(o.op)
		for i, hv := range []string{"", "Bearer", "Bearer not.a.jwt", "Bearer " + strings.Repeat("x", 4000),
			`Token token=""`, `Token token="` + "\u202e" + `"`, "Basic YWRtaW46YWRtaW4=", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
			hd := map[string]string{"Authorization": hv, "X-Admin-Secret": strings.TrimPrefix(hv, "Bearer ")}
			if bodyCT != "" {
				hd["Content-Type"] = bodyCT
			}
			cases = append(cases, hostileCase{name: fmt.Sprintf("garbage-credentials-%d", i), path: basePath, header: hd, body: body, malformed: true})
		}
	}

	// Parameters: each required one missing, and hostile values in every one.
	for _, p := range params {
		if p.Value.Required && p.Value.In == openapi3.ParameterInQuery {
			ct, body := baseBody(o.op)
			add(hostileCase{name: "missing-param-" + p.Value.Name, path: buildPath(o.path, params, map[string]*string{p.Value.Name: nil}),
				header: ctHeader(ct), body: body, malformed: true}, needsAuth)
		}
	}
	for i, hs := range hostileStrings {
		var s string
		if err := json.Unmarshal([]byte(hs), &s); err != nil {
			panic(fmt.Sprintf("hostile string %s is not a JSON string: %v", hs, err)) // a typo in the table
		}
		if len(params) == 0 {
			break
		}
		over := map[string]*string{}
		for _, p := range params {
			if p.Value.In == openapi3.ParameterInPath || p.Value.In == openapi3.ParameterInQuery {
				over[p.Value.Name] = &s
			}
		}
		ct, body := baseBody(o.op)
		add(hostileCase{name: fmt.Sprintf("hostile-param-%d", i), path: buildPath(o.path, params, over), header: ctHeader(ct), body: body}, needsAuth)
	}

	rb := o.op.RequestBody
	if rb == nil || rb.Value == nil {
		return cases
	}
	content := rb.Value.Content
	schema := bodySchema(rb.Value)
	baseCT, base := baseBody(o.op)

	// Media types the operation does not take.
	for _, ct := range []string{"", "text/plain", "application/xml", "application/json-patch+json", "image/png", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json"} {
		if ct != "" && content.Get(strings.Split(ct, ";")[0]) != nil {
			continue
		}
		add(hostileCase{name: "content-type-" + ct, path: basePath, header: map[string]string{"Content-Type": ct}, body: `{"a":1}`, malformed: true}, needsAuth)
	}
	// Bodies over the limit.
	add(hostileCase{name: "oversized-body", path: basePath, header: ctHeader(baseCT),
		body: `{"x":"` + strings.Repeat("A", 65<<10) + `"}`, malformed: true}, needsAuth)

	if content.Get("application/x-www-form-urlencoded") != nil {
		hd := ctHeader("application/x-www-form-urlencoded")
		add(hostileCase{name: "form-bad-escape", path: basePath, header: hd, body: "a=%zz&b=%", malformed: true}, needsAuth)
		add(hostileCase{name: "form-unknown-field", path: basePath, header: hd, body: formOf(example(schema)) + "&hostileUnknown=1", malformed: true}, needsAuth)
	}
	if content.Get("multipart/form-data") != nil {
		add(hostileCase{name: "multipart-broken", path: basePath, header: ctHeader("multipart/form-data; boundary=xyz"),
			body: "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", malformed: true}, needsAuth)
	}
	if content.Get("application/json") == nil || schema == nil {
		return cases
	}
	jsonCT := ctHeader("application/json")

	// Malformed JSON and bodies of the wrong JSON type.
	for i, b := range []string{`{`, `{"a":}`, `[1,2`, `{"a":1}garbage`, `nul`, `"\ud800`, `{"a":"\x"}`, "\xff\xfe{}",
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000), `null`, `[]`, `"string"`, `42`, `true`} {
		add(hostileCase{name: fmt.Sprintf("malformed-json-%d", i), path: basePath, header: jsonCT, body: b, malformed: true}, needsAuth)
	}
	if needsAuth { // the same without credentials: the answer is a 4xx whichever check comes first
		add(hostileCase{name: "malformed-json-unauthenticated", path: basePath, header: jsonCT, body: `{"a":`, malformed: true}, false)
		add(hostileCase{name: "base-unauthenticated", path: basePath, header: jsonCT, body: base, malformed: true}, false)
	}
	obj, _ := example(schema).(map[string]any)
	if obj == nil {
		return cases
	}
	if ap := schema.AdditionalProperties.Has; ap != nil && !*ap {
		add(hostileCase{name: "unknown-field", path: basePath, header: jsonCT, body: withField(obj, "hostileUnknown", "x"), malformed: true}, needsAuth)
	}
	for _, name := range schema.Required {
		m := maps.Clone(obj)
		delete(m, name)
		add(hostileCase{name: "missing-" + name, path: basePath, header: jsonCT, body: mustJSON(m), malformed: true}, needsAuth)
	}
	for _, name := range slices.Sorted(maps.Keys(schema.Properties)) {
		ps := schema.Properties[name].Value
		if ps == nil || ps.Type == nil || len(ps.Type.Slice()) == 0 {
			continue
		}
		for i, wrong := range wrongTypes(ps) {
			add(hostileCase{name: fmt.Sprintf("wrong-type-%s-%d", name, i), path: basePath, header: jsonCT, body: withField(obj, name, wrong), malformed: true}, needsAuth)
		}
		if ps.Type.Is("string") && ps.MaxLength != nil && *ps.MaxLength < 60000 {
			long := strings.Repeat("a", int(*ps.MaxLength)+1)
			add(hostileCase{name: "oversized-" + name, path: basePath, header: jsonCT, body: withField(obj, name, long), malformed: true}, needsAuth)
		}
	}
	// Hostile content: every free string field at once. Well-formed or not, never a 5xx.
	for i, hs := range hostileStrings {
		raw := map[string]json.RawMessage{}
		for k, v := range obj {
			raw[k] = json.RawMessage(mustJSON(v))
		}
		n := 0
		for name, ref := range schema.Properties {
			if ps := ref.Value; ps != nil && ps.Type != nil && ps.Type.Is("string") && len(ps.Enum) == 0 {
				raw[name] = json.RawMessage(hs)
				n++
			}
		}
		if n == 0 {
			break
		}
		add(hostileCase{name: fmt.Sprintf("hostile-content-%d", i), path: basePath, header: jsonCT, body: mustJSON(raw)}, needsAuth)
		if needsAuth {
			add(hostileCase{name: fmt.Sprintf("hostile-content-%d-unauthenticated", i), path: basePath, header: jsonCT, body: mustJSON(raw), malformed: true}, false)
		}
	}
	return cases
}

// credentialsFor picks the headers of the first security requirement we hold credentials for;
// needsAuth says the operation has no anonymous alternative.
func credentialsFor(op *openapi3.Operation, spec *openapi3.T, creds hostileCreds) (map[string]string, bool) {
	reqs := spec.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	needs := len(reqs) > 0
	var out map[string]string
	for _, r := range reqs {
		if len(r) == 0 {
			needs = false
		}
		for scheme := range r {
			v, ok := creds[scheme]
			if !ok || out != nil {
				continue
			}
			if scheme == "AdminSecret" {
				out = map[string]string{"X-Admin-Secret": v}
			} else {
				out = map[string]string{"Authorization": v}
			}
		}
	}
	return out, needs
}

func paramsOf(o hostileOp) openapi3.Parameters {
	var out openapi3.Parameters
	for _, p := range o.op.Parameters {
		if p.Value != nil {
			out = append(out, p)
		}
	}
	return out
}

// buildPath fills path parameters and required query parameters with example values; over
// replaces a parameter's value (nil: leave it out).
func buildPath(path string, params openapi3.Parameters, over map[string]*string) string {
	q := url.Values{}
	for _, p := range params {
		v := fmt.Sprint(example(paramSchema(p.Value)))
		if o, ok := over[p.Value.Name]; ok {
			if o == nil {
				continue
			}
			v = *o
		} else if !p.Value.Required {
			continue
		}
		switch p.Value.In {
		case openapi3.ParameterInPath:
			path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", url.PathEscape(v))
		case openapi3.ParameterInQuery:
			q.Set(p.Value.Name, v)
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

func paramSchema(p *openapi3.Parameter) *openapi3.Schema {
	if p.Schema != nil && p.Schema.Value != nil {
		return p.Schema.Value
	}
	return &openapi3.Schema{Type: &openapi3.Types{"string"}}
}

func bodySchema(rb *openapi3.RequestBody) *openapi3.Schema {
	for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data"} {
		if mt := rb.Content.Get(ct); mt != nil && mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	return nil
}

// baseBody is a body the operation's schema would take in its first media type ("" when the
// operation has no body).
func baseBody(op *openapi3.Operation) (string, string) {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return "", ""
	}
	rb := op.RequestBody.Value
	s := bodySchema(rb)
	switch {
	case rb.Content.Get("application/json") != nil:
		return "application/json", mustJSON(example(s))
	case rb.Content.Get("application/x-www-form-urlencoded") != nil:
		return "application/x-www-form-urlencoded", formOf(example(s))
	}
	return "", ""
}

func ctHeader(ct string) map[string]string {
	if ct == "" {
		return nil
	}
	return map[string]string{"Content-Type": ct}
}

// example is a value a schema takes (as far as a few rules tell): examples, enums, formats.
func example(s *openapi3.Schema) any {
	if s == nil {
		return map[string]any{}
	}
	if s.Example != nil {
		return s.Example
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	if s.Default != nil {
		return s.Default
	}
	if len(s.OneOf) > 0 && s.OneOf[0].Value != nil {
		return example(s.OneOf[0].Value)
	}
	if len(s.AllOf) > 0 && s.AllOf[0].Value != nil {
		return example(s.AllOf[0].Value)
	}
	switch {
	case s.Type == nil:
		return "x"
	case s.Type.Is("object"):
		m := map[string]any{}
		for _, name := range s.Required {
			if p := s.Properties[name]; p != nil {
				m[name] = example(p.Value)
			}
		}
		return m
	case s.Type.Is("array"):
		return []any{}
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return false
	}
	switch s.Format {
	case "email":
		return "nobody-hostile@example.com"
	case "uri":
		return servertest.ClientURL + "/hostile"
	case "uuid":
		return "0b8e4f6c-4b1e-4d5a-9c1e-2f3a4b5c6d7e"
	case "date-time":
		return "2030-01-01T00:00:00Z"
	}
	n := 12
	if s.MinLength > uint64(n) {
		n = int(s.MinLength)
	}
	return strings.Repeat("h", n)
}

func wrongTypes(s *openapi3.Schema) []any {
	switch {
	case s.Type.Is("string"):
		return []any{12345, map[string]any{"$ne": ""}}
	case s.Type.Is("integer"), s.Type.Is("number"):
		return []any{"1 OR 1=1", true}
	case s.Type.Is("boolean"):
		return []any{"true", 1}
	case s.Type.Is("object"):
		return []any{"x", []any{1}}
	case s.Type.Is("array"):
		return []any{"x", map[string]any{}}
	}
	return nil
}

func withField(obj map[string]any, name string, v any) string {
	m := maps.Clone(obj)
	m[name] = v
	return mustJSON(m)
}

func formOf(v any) string {
	m, _ := v.(map[string]any)
	q := url.Values{}
	for k, x := range m {
		q.Set(k, fmt.Sprint(x))
	}
	return q.Encode()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
