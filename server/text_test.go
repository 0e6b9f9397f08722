package server

import "testing"

// TestJSONTextProblem: which strings of a JSON text are not valid Unicode, and where.
func TestJSONTextProblem(t *testing.T) {
	for _, c := range []struct {
		name, body, pointer string
		bad                 bool
	}{
		{"plain", `{"email":"a@b.co","password":"pässwörd ☃ 🙂"}`, "", false},
		{"escaped non-ASCII", `{"password":"\u00e9\u2603"}`, "", false},
		{"surrogate pair", `{"password":"\ud83d\ude00"}`, "", false},
		{"upper-case pair", `{"password":"\uD83D\uDE00"}`, "", false},
		{"escaped backslash before u", `{"password":"\\ud800"}`, "", false},
		{"escaped quote", `{"a":"x\"\ud800"}`, "/a", true},
		{"U+FFFD itself", "{\"password\":\"\xef\xbf\xbd\\ufffd\"}", "", false},
		{"bad byte", "{\"email\":\"a@b.co\",\"password\":\"x\xff\"}", "/password", true},
		{"truncated sequence", "{\"password\":\"x\xc3\"}", "/password", true},
		{"encoded surrogate", "{\"password\":\"\xed\xa0\x80\"}", "/password", true},
		{"lone high surrogate", `{"password":"x\ud800y"}`, "/password", true},
		{"high surrogate at the end", `{"password":"x\ud800"}`, "/password", true},
		{"lone low surrogate", `{"password":"\udc00"}`, "/password", true},
		{"reversed pair", `{"password":"\ude00\ud83d"}`, "/password", true},
		{"high then other escape", `{"password":"\ud800\u0041"}`, "/password", true},
		{"nested", `{"options":{"metadata":{"k":[1,"ok",{"x":"\udfff"}]}}}`, "/options/metadata/k/2/x", true},
		{"second element", `{"roles":["a","b\ud800"]}`, "/roles/1", true},
		{"member name", "{\"ok\":1,\"pass\xffword\":\"x\"}", "", true},
		{"nested member name", `{"metadata":{"\ud800":1}}`, "/metadata", true},
		{"pointer escapes", `{"a/b~c":"\ud800"}`, "/a~1b~0c", true},
		{"after an escaped member name", `{"a\"b":{"c":"\udc00"}}`, "/a\"b/c", true},
		{"top-level string", `"\ud800"`, "", true},
		{"bytes outside strings", "{\"a\":1}\xff", "", true},
		{"unterminated", `{"a":"\ud800`, "/a", true},
		{"short escape at the end", `{"a":"\u12`, "", false},
	} {
		pointer, bad := jsonTextProblem([]byte(c.body))
		if bad != c.bad || pointer != c.pointer {
			t.Errorf("%s: jsonTextProblem(%q) = %q, %v; want %q, %v", c.name, c.body, pointer, bad, c.pointer, c.bad)
		}
	}
}
