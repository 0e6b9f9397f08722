package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// Request bodies must be valid Unicode text. encoding/json, and so kin-openapi and every decoder
// behind the generated handlers, replaces each byte that is not UTF-8, and each \u escape of a
// lone surrogate, with U+FFFD without a word: two different passwords would become one, and a
// password that was never typed would be the one stored. So the raw body is kept while the
// contract is checked, and a string in it that is not valid text refuses the request (400),
// whichever field holds it. Form bodies carry bytes, not escapes: their decoded values are
// checked instead.

// reasonInvalidText is the field problem of a string that is not valid UTF-8 text.
const reasonInvalidText = "must be valid UTF-8 text"

var errInvalidText = errors.New("request text is not valid UTF-8")

// invalidText is the refusal of a request whose field at pointer is not valid text.
func invalidText(pointer string) *Error {
	return &Error{Code: CodeInvalidRequest, Fields: []FieldError{{Field: pointer, Reason: reasonInvalidText}}, Err: errInvalidText}
}

// readJSONBody reads a JSON request body and puts it back, so the contract check reads the
// same bytes; other bodies are left alone (nil).
func readJSONBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		return nil, nil
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return nil, &Error{Code: CodePayloadTooLarge, Err: err}
		}
		return nil, &Error{Code: CodeInvalidRequest, Err: err}
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	return raw, nil
}

// checkText refuses a request whose body holds a string that is not valid text: raw is the JSON
// body as sent (nil for other media types, whose decoded form values are checked).
func checkText(req *http.Request, raw []byte) error {
	if raw != nil {
		if pointer, bad := jsonTextProblem(raw); bad {
			return invalidText(pointer)
		}
		return nil
	}
	body, ok := req.Body.(interface{ ValidatedValue() any })
	if !ok {
		return nil
	}
	if pointer, bad := valueTextProblem(body.ValidatedValue(), ""); bad {
		return invalidText(pointer)
	}
	return nil
}

// valueTextProblem finds a decoded form value (or key) that is not valid UTF-8.
func valueTextProblem(v any, at string) (string, bool) {
	switch v := v.(type) {
	case string:
		return at, !utf8.ValidString(v)
	case map[string]any:
		for k, x := range v {
			if !utf8.ValidString(k) {
				return at, true
			}
			if p, bad := valueTextProblem(x, at+"/"+pointerToken(k)); bad {
				return p, true
			}
		}
	case []any:
		for i, x := range v {
			if p, bad := valueTextProblem(x, at+"/"+strconv.Itoa(i)); bad {
				return p, true
			}
		}
	}
	return "", false
}

// jsonTextProblem finds the first string of a JSON text, member names included, that is not
// valid Unicode: bytes that are not UTF-8 (an encoded surrogate among them), or a \u escape of
// a surrogate that is not half of a pair. It returns the JSON pointer of the value holding it
// (of the object, for a member name). The text is one the decoder accepted; the scan stays in
// bounds whatever it is given.
func jsonTextProblem(b []byte) (pointer string, bad bool) {
	if utf8.Valid(b) && !mayHoldSurrogateEscape(b) {
		return "", false // nearly every body: one pass, no allocation
	}
	type frame struct {
		object bool
		atKey  bool   // object: the next string is a member name
		key    string // object: the current member's name
		index  int    // array: the current element's index
	}
	var stack []frame
	pointerOf := func(n int) string {
		var sb strings.Builder
		for _, f := range stack[:n] {
			sb.WriteByte('/')
			if f.object {
				sb.WriteString(pointerToken(f.key))
			} else {
				sb.WriteString(strconv.Itoa(f.index))
			}
		}
		return sb.String()
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{object: true, atKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].atKey = true
				} else {
					stack[n-1].index++
				}
			}
		case ':':
			if n := len(stack); n > 0 {
				stack[n-1].atKey = false
			}
		case '"':
			end, ok := scanJSONString(b, i)
			n := len(stack)
			isKey := n > 0 && stack[n-1].object && stack[n-1].atKey
			switch {
			case !ok && isKey:
				return pointerOf(n - 1), true
			case !ok:
				return pointerOf(n), true
			case isKey:
				var k string
				_ = json.Unmarshal(b[i:end+1], &k) // valid text: decodes as written
				stack[n-1].key = k
			}
			i = end
		}
	}
	// Bytes that are not UTF-8 outside every string: not JSON at all.
	return "", !utf8.Valid(b)
}

// scanJSONString reads the string starting at the quote b[start] and returns the index of its
// closing quote (len(b)-1 when there is none) and whether it is valid text.
func scanJSONString(b []byte, start int) (end int, ok bool) {
	ok = true
	for j := start + 1; j < len(b); {
		c := b[j]
		switch {
		case c == '"':
			return j, ok
		case c == '\\':
			if j+1 < len(b) && b[j+1] == 'u' {
				r, n := hexRune(b, j)
				switch {
				case r >= 0xD800 && r < 0xDC00: // a high surrogate: a low one must follow
					if lo, m := hexRune(b, j+n); m > 0 && lo >= 0xDC00 && lo < 0xE000 {
						n += m
					} else {
						ok = false
					}
				case r >= 0xDC00 && r < 0xE000:
					ok = false
				}
				j += max(n, 2)
				continue
			}
			j += 2
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				ok = false
			}
			j += size
		}
	}
	return len(b) - 1, ok
}

// hexRune reads the escape \uXXXX at b[at:] and returns its code unit and length (6), or -1 and
// 0 when there is no such escape there.
func hexRune(b []byte, at int) (rune, int) {
	if at+6 > len(b) || b[at] != '\\' || b[at+1] != 'u' {
		return -1, 0
	}
	v, err := strconv.ParseUint(string(b[at+2:at+6]), 16, 16)
	if err != nil {
		return -1, 0
	}
	return rune(v), 6
}

// mayHoldSurrogateEscape reports whether b holds `\uD800`–`\uDFFF` in any case: the only escapes
// that may not be text. It may be fooled by an escaped backslash before "u"; the scan decides.
func mayHoldSurrogateEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 || i+4 > len(b) {
			return false
		}
		if d, x := b[i+2], b[i+3]; (d == 'd' || d == 'D') && strings.IndexByte("89abcdefABCDEF", x) >= 0 {
			return true
		}
		b = b[i+2:]
	}
}

// pointerToken escapes a member name for a JSON pointer (RFC 6901).
func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
