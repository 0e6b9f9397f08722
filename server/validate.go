package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/store"
)

// validationOptions configures kin-openapi for every request. Schema errors leave out the
// offending value (a password that fails maxLength must never be echoed), and the formats the
// contract uses but kin-openapi does not check by itself are checked here, for this document only.
func (s *Server) validationOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		MultiError: true,
		// The generated handlers then bind exactly the value that was validated, instead of a
		// second, case-insensitive decode that could see fields the schema never checked.
		KeepValidatedValue: true,
		AuthenticationFunc: s.authenticate,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.DisableSchemaErrorDetails(),
			openapi3.WithStringFormatValidators(FormatValidators()),
		},
	}
}

// FormatValidators checks the string formats the contract uses that kin-openapi does not check by
// itself. Tests validate responses with the same map.
func FormatValidators() map[string]openapi3.StringFormatValidator {
	return map[string]openapi3.StringFormatValidator{
		"email": openapi3.NewCallbackValidator(validateEmail),
		// padded-email is an address that may come with white space around it, which the
		// handler strips (Authentication Zero strips it, as the generator's User model does).
		"padded-email": openapi3.NewCallbackValidator(func(v string) error { return validateEmail(strings.TrimSpace(v)) }),
		"uri":          openapi3.NewCallbackValidator(validateURI),
	}
}

// validateEmail accepts what the one address rule accepts (store.CheckEmail): a bare address
// of at most 254 bytes whose characters outside ASCII are already in the form addresses are
// compared in.
func validateEmail(v string) error { return store.CheckEmail(v) }

// validateURI accepts absolute URIs with a scheme and a host.
func validateURI(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return errors.New("not an absolute URI")
	}
	return nil
}

// validate checks every request against its contract operation (security schemes included)
// before a handler runs. A request the contract rejects never reaches a handler, so nothing is
// written for it.
func (s *Server) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		st := stateFrom(ctx)
		op := st.op
		if op == nil {
			return next(c) // Echo's own 404 and 405, rendered by handleError
		}
		if op.quick != nil && req.ContentLength == 0 {
			in := &openapi3filter.RequestValidationInput{Request: req, Route: op.route, Options: s.filterOptions}
			if err := op.quick.run(ctx, in); err != nil {
				return fromValidation(err)
			}
			if err := refuseNUL(req, nil); err != nil {
				return err
			}
			if st.authErr != nil {
				return st.authErr
			}
			return next(c)
		}
		var raw []byte // a JSON body as sent: decoding hides text that is not UTF-8 (text.go)
		if op.hasBody && req.ContentLength != 0 {
			if err := checkContentType(req, op.route.Operation.RequestBody.Value); err != nil {
				return err
			}
			var err error
			if raw, err = readJSONBody(req); err != nil {
				return err
			}
		}
		var params map[string]string
		if names := c.ParamNames(); len(names) > 0 {
			params = make(map[string]string, len(names))
			for i, n := range names {
				params[n] = c.ParamValues()[i]
			}
		}
		in := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      op.route,
			Options:    s.filterOptions,
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fromValidation(err)
		}
		if err := checkFormFields(req, op.route.Operation.RequestBody); err != nil {
			return err
		}
		if err := refuseNUL(req, params); err != nil {
			return err
		}
		if err := checkText(req, raw); err != nil {
			return err
		}
		// An optional bearer token that failed for a reason other than the token itself (the
		// database did not answer) must not pass as "no token".
		if st.authErr != nil {
			return st.authErr
		}
		return next(c)
	}
}

// quickCheck is the whole contract check of an operation that declares neither parameters nor a
// request body, for a request that carries no body (Content-Length 0): all that
// openapi3filter.ValidateRequest would check of it is the security requirements, and run checks
// them as its ValidateSecurityRequirements does — alternatives in their order, the first that
// holds wins, every scheme of an alternative in name order must hold, and the same error when
// none does — without the work it repeats for every request (reading the body into memory and
// wrapping it anew, collecting and sorting the scheme names). GET /v1/user, the most frequent
// authenticated call, is such an operation. TestQuickCheckMatchesValidator holds the two to the
// same verdicts.
type quickCheck struct {
	declared openapi3.SecurityRequirements // as declared, for the error
	alts     [][]quickScheme
}

type quickScheme struct {
	name   string
	scheme *openapi3.SecurityScheme
	scopes []string
}

// newQuickCheck prepares the check of route's operation, or returns nil when the operation needs
// kin-openapi's general path (it declares parameters or a body, or names an undeclared scheme).
func newQuickCheck(route *routers.Route) *quickCheck {
	op := route.Operation
	if len(route.PathItem.Parameters) > 0 || len(op.Parameters) > 0 || op.RequestBody != nil {
		return nil
	}
	declared := route.Spec.Security // kin-openapi: the document's requirements unless the operation has its own
	if op.Security != nil {
		declared = *op.Security
	}
	var schemes openapi3.SecuritySchemes
	if route.Spec.Components != nil {
		schemes = route.Spec.Components.SecuritySchemes
	}
	q := &quickCheck{declared: declared}
	for _, sr := range declared {
		names := slices.Sorted(maps.Keys(sr))
		alt := make([]quickScheme, 0, len(names))
		for _, name := range names {
			ref := schemes[name]
			if ref == nil || ref.Value == nil {
				return nil // kin-openapi reports this itself
			}
			alt = append(alt, quickScheme{name: name, scheme: ref.Value, scopes: sr[name]})
		}
		q.alts = append(q.alts, alt)
	}
	return q
}

// run checks the security requirements of in, whose Options carry the AuthenticationFunc.
func (q *quickCheck) run(ctx context.Context, in *openapi3filter.RequestValidationInput) error {
	if len(q.alts) == 0 {
		return nil
	}
	var errs []error
	for _, alt := range q.alts {
		err := q.holds(ctx, in, alt)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	// As ValidateRequest reports it with Options.MultiError.
	return openapi3.MultiError{&openapi3filter.SecurityRequirementsError{SecurityRequirements: q.declared, Errors: errs}}
}

func (q *quickCheck) holds(ctx context.Context, in *openapi3filter.RequestValidationInput, alt []quickScheme) error {
	for _, sc := range alt {
		if err := in.Options.AuthenticationFunc(ctx, &openapi3filter.AuthenticationInput{
			RequestValidationInput: in,
			SecuritySchemeName:     sc.name,
			SecurityScheme:         sc.scheme,
			Scopes:                 sc.scopes,
		}); err != nil {
			return err
		}
	}
	return nil
}

// checkContentType answers 415 when a body is sent in a media type the operation does not take,
// and otherwise rewrites the header in canonical form (lower-case type, as parsed): media types
// are case-insensitive, but the generated handlers compare them byte for byte, and a body they
// fail to recognise would reach the handler unread.
func checkContentType(req *http.Request, body *openapi3.RequestBody) error {
	ct := req.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || body.Content.Get(mt) == nil {
		return &Error{Code: CodeUnsupportedMediaType, Err: fmt.Errorf("content type %q", ct)}
	}
	req.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
	return nil
}

// checkFormFields refuses url-encoded fields a closed schema does not declare: kin-openapi's form
// decoder reads only the declared ones, so without this an extra field would pass where the same
// field in JSON is refused.
func checkFormFields(req *http.Request, body *openapi3.RequestBodyRef) error {
	if body == nil || body.Value == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil
	}
	mt := body.Value.Content.Get("application/x-www-form-urlencoded")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	schema := mt.Schema.Value
	if schema.AdditionalProperties.Has == nil || *schema.AdditionalProperties.Has {
		return nil
	}
	if err := req.ParseForm(); err != nil {
		return &Error{Code: CodeInvalidRequest, Err: err}
	}
	for name := range req.PostForm {
		if _, ok := schema.Properties[name]; !ok {
			return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: "/" + name, Reason: "property is not allowed"}}}
		}
	}
	return nil
}

// refuseNUL answers 400 when a parameter or a string of the validated body holds U+0000: no
// field of ours has a use for it, and PostgreSQL can neither store it in a text column nor
// compare a column with it (the query fails), so it would otherwise surface as a 500.
func refuseNUL(req *http.Request, params map[string]string) error {
	for name, v := range params {
		if strings.IndexByte(v, 0) >= 0 {
			return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: name, Reason: "must not contain NUL"}}, Err: errNUL}
		}
	}
	if req.URL.RawQuery != "" { // most requests have none: no map for them
		for name, vs := range req.URL.Query() {
			for _, v := range vs {
				if strings.IndexByte(v, 0) >= 0 {
					return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: name, Reason: "must not contain NUL"}}, Err: errNUL}
				}
			}
		}
	}
	body, ok := req.Body.(interface{ ValidatedValue() any })
	if ok && holdsNUL(body.ValidatedValue()) {
		return &Error{Code: CodeInvalidRequest, Err: errNUL}
	}
	return nil
}

var errNUL = errors.New("NUL character in the request")

// holdsNUL reports whether a decoded body holds U+0000 in any string or key.
func holdsNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case map[string]any:
		for k, x := range v {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if holdsNUL(x) {
				return true
			}
		}
	}
	return false
}

// fromValidation turns kin-openapi's verdict into an *Error. A failed security requirement wins
// over body problems: an unauthenticated caller learns nothing about the payload rules.
func fromValidation(err error) error {
	errs := []error{err}
	var me openapi3.MultiError
	if errors.As(err, &me) {
		errs = me
	}
	var fields []FieldError
	for _, e := range errs {
		var sre *openapi3filter.SecurityRequirementsError
		if errors.As(e, &sre) {
			// kin-openapi reads the body while checking credentials, so an oversized body shows
			// up here first; it is a 413, not a missing token.
			for _, inner := range sre.Errors {
				var he *echo.HTTPError
				if errors.As(inner, &he) && he.Code == http.StatusRequestEntityTooLarge {
					return &Error{Code: CodePayloadTooLarge, Err: inner}
				}
			}
			for _, inner := range sre.Errors {
				var ae *Error
				if errors.As(inner, &ae) {
					return ae
				}
			}
			return &Error{Code: CodeUnauthenticated, Err: e}
		}
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			fields = append(fields, FieldError{Reason: "invalid request"})
			continue
		}
		var he *echo.HTTPError
		if errors.As(re.Err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return &Error{Code: CodePayloadTooLarge, Err: e}
		}
		fields = append(fields, requestFieldErrors(re)...)
	}
	return &Error{Code: CodeInvalidRequest, Fields: fields, Err: err}
}

// requestFieldErrors lists the field problems of one RequestError, built only from JSON pointers
// and reasons, never from the submitted values.
func requestFieldErrors(re *openapi3filter.RequestError) []FieldError {
	prefix := ""
	if re.Parameter != nil {
		prefix = re.Parameter.Name
	}
	var schemaErrs []*openapi3.SchemaError
	var me openapi3.MultiError
	var se *openapi3.SchemaError
	switch {
	case errors.As(re.Err, &me):
		for _, e := range me {
			if errors.As(e, &se) {
				schemaErrs = append(schemaErrs, se)
			}
		}
	case errors.As(re.Err, &se):
		schemaErrs = append(schemaErrs, se)
	}
	if len(schemaErrs) == 0 {
		reason := re.Reason
		switch {
		case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
			reason = "value is required"
		case re.RequestBody != nil && strings.HasPrefix(re.Reason, "failed to decode"):
			reason = "body is not valid JSON for this operation"
		case reason == "":
			reason = "invalid value"
		}
		return []FieldError{{Field: prefix, Reason: reason}}
	}
	out := make([]FieldError, 0, len(schemaErrs))
	for _, se := range schemaErrs {
		field := prefix
		if ptr := se.JSONPointer(); len(ptr) > 0 {
			field = "/" + strings.Join(ptr, "/")
			if prefix != "" {
				field = prefix + field
			}
		}
		reason := se.Reason
		if reason == "" {
			reason = "does not match the schema"
		}
		out = append(out, FieldError{Field: field, Reason: reason})
	}
	return out
}
