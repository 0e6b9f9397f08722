package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/latchkey/latchkey/gen"
)

// GetUser implements GET /v1/user (Nhost).
func (s *Server) GetUser(ctx context.Context, _ gen.GetUserRequestObject) (gen.GetUserResponseObject, error) {
	p := principalFrom(ctx)
	return getUserAnswer(nhostUser(p.User, p.User.Roles)), nil // roles came with authentication
}

// getUserAnswer is GET /v1/user's 200, written by appendUserJSON: the bytes the generated
// GetUser200JSONResponse would write, without encoding/json's reflection.
type getUserAnswer gen.User

func (a getUserAnswer) VisitGetUserResponse(w http.ResponseWriter) error {
	u := gen.User(a)
	return writeJSON200(w, func(b []byte) ([]byte, error) { return appendUserJSON(b, &u) })
}

// The two answers of the hottest requests (GET /v1/user and POST /v1/token) are written by hand
// instead of by encoding/json's reflection, which was a tenth of the server's time on them. They
// produce exactly the bytes json.Encoder produces for the generated types (HTML-safe escaping,
// field order, omitempty, the trailing newline): TestNhostJSONMatchesEncoder and
// FuzzNhostUserJSON compare the two. Anything unusual (a string that needs escaping, metadata, an
// address that is not a plain dot-atom, a time outside RFC 3339's years) is handed to
// encoding/json itself, so only the common case is ours.

var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON200 writes the JSON that appendTo produces, with a newline, as a 200.
func writeJSON200(w http.ResponseWriter, appendTo func([]byte) ([]byte, error)) error {
	bp := jsonBuffers.Get().(*[]byte)
	defer jsonBuffers.Put(bp)
	b, err := appendTo((*bp)[:0])
	if err != nil {
		return err
	}
	b = append(b, '\n')
	*bp = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// appendUserJSON appends u as encoding/json would marshal it.
func appendUserJSON(b []byte, u *gen.User) ([]byte, error) {
	var err error
	b = append(b, '{')
	if u.ActiveMfaType != nil {
		b = append(b, `"activeMfaType":`...)
		b = appendJSONString(b, *u.ActiveMfaType)
		b = append(b, ',')
	}
	b = append(b, `"avatarUrl":`...)
	b = appendJSONString(b, u.AvatarUrl)
	b = append(b, `,"createdAt":`...)
	if b, err = appendJSONTime(b, u.CreatedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"defaultRole":`...)
	b = appendJSONString(b, u.DefaultRole)
	b = append(b, `,"displayName":`...)
	b = appendJSONString(b, u.DisplayName)
	if u.Email != nil {
		b = append(b, `,"email":`...)
		if b, err = appendJSONEmail(b, *u.Email); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"emailVerified":`...)
	b = strconv.AppendBool(b, u.EmailVerified)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, u.Id)
	b = append(b, `,"isAnonymous":`...)
	b = strconv.AppendBool(b, u.IsAnonymous)
	b = append(b, `,"locale":`...)
	b = appendJSONString(b, u.Locale)
	b = append(b, `,"metadata":`...)
	switch {
	case u.Metadata == nil:
		b = append(b, "null"...)
	case len(u.Metadata) == 0:
		b = append(b, "{}"...)
	default:
		md, err := json.Marshal(u.Metadata)
		if err != nil {
			return nil, err
		}
		b = append(b, md...)
	}
	if u.PhoneNumber != nil {
		b = append(b, `,"phoneNumber":`...)
		b = appendJSONString(b, *u.PhoneNumber)
	}
	b = append(b, `,"phoneNumberVerified":`...)
	b = strconv.AppendBool(b, u.PhoneNumberVerified)
	b = append(b, `,"roles":`...)
	if u.Roles == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range u.Roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted as encoding/json quotes it: as it is when every byte is
// printable ASCII that needs no escape (HTML's <, > and & included), else by encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off <= -24*3600 || off >= 24*3600 || off%60 != 0 {
		q, err := t.MarshalJSON() // its errors, and its way with odd offsets
		if err != nil {
			return nil, err
		}
		return append(b, q...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendJSONEmail appends an address as openapi_types.Email's MarshalJSON does. It gives
// net/mail's reading of the address; for a plain dot-atom address, which is what sign-up and
// every other way in store, that is the address itself.
func appendJSONEmail(b []byte, e openapi_types.Email) ([]byte, error) {
	if plainAddress(string(e)) {
		return appendJSONString(b, string(e)), nil
	}
	q, err := e.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, q...), nil
}

// plainAddress reports whether a is local@domain with both parts dot-atoms (RFC 5322 atext
// runs joined by single dots) of ASCII letters, digits and the few symbols common in addresses.
func plainAddress(a string) bool {
	at := -1
	prev := byte('.') // no part starts with a dot
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '+':
		case c == '.':
			if prev == '.' {
				return false
			}
		case c == '@':
			if at >= 0 || prev == '.' {
				return false
			}
			at, c = i, '.' // the domain may not start with a dot either
		default:
			return false
		}
		prev = c
	}
	return at > 0 && at < len(a)-1 && prev != '.'
}

// DeanonymizeUser implements POST /v1/user/deanonymize (Nhost).
func (s *Server) DeanonymizeUser(ctx context.Context, req gen.DeanonymizeUserRequestObject) (gen.DeanonymizeUserResponseObject, error) {
	in := deanonymizeInput{
		Principal:    principalFrom(ctx),
		Email:        string(req.Body.Email),
		Passwordless: req.Body.SignInMethod == gen.UserDeanonymizeRequestSignInMethodPasswordless,
		Options:      profileFromNhost(req.Body.Options),
	}
	if req.Body.Password != nil {
		pw := secret(*req.Body.Password)
		in.Password = &pw
	}
	if err := s.deanonymize(withCodeChallenge(ctx, req.Body.CodeChallenge), in); err != nil {
		return nil, err
	}
	return gen.DeanonymizeUser200JSONResponse(gen.OKResponseOK), nil
}

// ChangeUserPassword implements POST /v1/user/password (Nhost).
func (s *Server) ChangeUserPassword(ctx context.Context, req gen.ChangeUserPasswordRequestObject) (gen.ChangeUserPasswordResponseObject, error) {
	if req.Body.Ticket != nil {
		// A reset ticket stands in for a session; a bearer token sent beside it is not used.
		if err := s.resetPassword(ctx, secret(*req.Body.Ticket), secret(req.Body.NewPassword)); err != nil {
			return nil, err
		}
		return gen.ChangeUserPassword200JSONResponse(gen.OKResponseOK), nil
	}
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireElevated(ctx, p); err != nil {
		return nil, err
	}
	if err := s.changePassword(ctx, p, secret(req.Body.NewPassword), false); err != nil {
		return nil, err
	}
	return gen.ChangeUserPassword200JSONResponse(gen.OKResponseOK), nil
}
