package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// dialect is the family of shapes a request speaks: which error body it gets, and how.
type dialect int

const (
	dialectPlain dialect = iota // no operation matched and no prefix claims the path
	dialectNhost
	dialectWME
	dialectZesty
	dialectAZ    // Authentication Zero
	dialectAdmin // Latchkey's admin API
	dialectOps
)

// dialectByTag maps the contract's tags (one per operation) to dialects.
var dialectByTag = map[string]dialect{
	"nhost":          dialectNhost,
	"wme":            dialectWME,
	"zesty":          dialectZesty,
	"zesty-accounts": dialectZesty,
	"az":             dialectAZ,
	"admin":          dialectAdmin,
	"ops":            dialectOps,
}

func (d dialect) String() string {
	switch d {
	case dialectNhost:
		return "nhost"
	case dialectWME:
		return "wme"
	case dialectZesty:
		return "zesty"
	case dialectAZ:
		return "az"
	case dialectAdmin:
		return "admin"
	case dialectOps:
		return "ops"
	default:
		return "plain"
	}
}

// render turns an *Error of operation (an operationId, "" when none matched) into this
// dialect's status and body.
func (d dialect) render(s *Server, e *Error, operation string) rendered {
	switch d {
	case dialectNhost:
		return renderNhost(s, e)
	case dialectWME:
		return renderWME(s, e, operation)
	case dialectZesty:
		return renderZesty(s, e, operation)
	case dialectAZ:
		return renderAZ(s, e, operation)
	case dialectAdmin:
		return renderAdmin(s, e)
	case dialectOps:
		return renderOps(e)
	default:
		return renderPlain(e)
	}
}

// plainError is the body of errors outside every dialect: unknown paths at the root and the
// operations endpoints.
type plainError struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

func renderPlain(e *Error) rendered {
	status := http.StatusInternalServerError
	msg := "Internal server error"
	switch e.Code {
	case CodeNotFound:
		status, msg = http.StatusNotFound, "Not found"
	case CodeMethodNotAllowed:
		status, msg = http.StatusMethodNotAllowed, "Method not allowed"
	case CodeInvalidRequest:
		status, msg = http.StatusBadRequest, "Bad request"
	case CodePayloadTooLarge:
		status, msg = http.StatusRequestEntityTooLarge, "Request body too large"
	case CodeUnsupportedMediaType:
		status, msg = http.StatusUnsupportedMediaType, "Unsupported media type"
	case CodeUnauthenticated:
		status, msg = http.StatusUnauthorized, "Authentication required"
	}
	name := string(e.Code)
	if status == http.StatusInternalServerError {
		name = string(CodeInternal) // a code this table does not know (or none) is not told
	}
	return rendered{Status: status, Body: plainError{Status: status, Error: name, Message: msg}}
}

// renderOps renders errors of the operations endpoints in the plain shape (OpsError in the
// contract); a 401 (GET /metrics without the metrics secret) carries its bearer challenge.
func renderOps(e *Error) rendered {
	r := renderPlain(e)
	if r.Status == http.StatusUnauthorized {
		r.Header = http.Header{"Www-Authenticate": {`Bearer realm="metrics"`}}
	}
	return r
}

// dialectForPath is the fallback for requests that match no operation: the prefix decides.
func dialectForPath(path string) dialect {
	if path == "/v1/admin" || strings.HasPrefix(path, "/v1/admin/") {
		return dialectAdmin
	}
	if path == "/v1" || strings.HasPrefix(path, "/v1/") {
		return dialectNhost
	}
	return dialectPlain
}

// operation is one contract operation as the server routes it.
type operation struct {
	id      string
	dialect dialect
	route   *routers.Route // for the request validator
	hasBody bool
	quick   *quickCheck // validate.go: the whole check of a bodiless request, when one suffices
}

// operations indexes the contract's operations by "METHOD /echo/path", the key Echo's router
// gives every request (c.Path()), so the validator and the dialect middleware find a request's
// operation without a second router. It fails when an operation lacks exactly one dialect tag.
func operations(spec *openapi3.T) (map[string]*operation, error) {
	out := map[string]*operation{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if len(op.Tags) != 1 {
				return nil, fmt.Errorf("%s %s: want exactly one dialect tag, have %v", method, path, op.Tags)
			}
			d, ok := dialectByTag[op.Tags[0]]
			if !ok {
				return nil, fmt.Errorf("%s %s: unknown dialect tag %q", method, path, op.Tags[0])
			}
			route := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			out[method+" "+echoPath(path)] = &operation{
				id:      op.OperationID,
				dialect: d,
				route:   route,
				hasBody: op.RequestBody != nil,
				quick:   newQuickCheck(route),
			}
		}
	}
	return out, nil
}

// echoPath turns "/docs/{asset}" into Echo's "/docs/:asset".
func echoPath(p string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		j := strings.IndexByte(p[i:], '}')
		b.WriteString(p[:i])
		b.WriteByte(':')
		b.WriteString(p[i+1 : i+j])
		p = p[i+j+1:]
	}
}
