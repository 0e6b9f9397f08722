package server

import (
	"strings"
	"testing"
)

func TestRedirectRules(t *testing.T) {
	r, err := compileRedirects("https://app.example.com", []string{
		"https://*.preview.example.com",
		"http://localhost:3000/auth",
		"myapp://callback",
	})
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"https://app.example.com":                    true,
		"https://app.example.com/":                   true,
		"https://APP.example.com/welcome?x=1#top":    true,
		"https://app.example.com:443/x":              true,
		"https://app.example.com:8443/x":             false,
		"http://app.example.com/":                    false, // scheme must match
		"https://app.example.com.evil.test/":         false,
		"https://evil.test/?https://app.example.com": false,
		"https://app.example.com@evil.test/":         false, // user info
		"https://user@app.example.com/":              false,
		"https://pr-1.preview.example.com/x":         true,
		"https://a.b.preview.example.com/x":          true, // `*` spans labels: still under the listed domain
		"https://preview.example.com/":               false,
		"https://.preview.example.com/":              false,
		"https://evilpreview.example.com/":           false,
		"http://localhost:3000/auth":                 true,
		"http://localhost:3000/auth/callback":        true,
		"http://localhost:3000/authx":                false,
		"http://localhost:3000/other":                false,
		"http://localhost:3000/auth/../admin":        false,
		"http://localhost:3000/auth/%2e%2e/admin":    false,
		"myapp://callback":                           true,
		"myapp://other":                              false,
		"/relative/path":                             false,
		"javascript:alert(1)":                        false,
		"https://app.example.com\\@evil.test":        false,
		"https://app.example.com/\r\nLocation: x":    false,
		"": false,
	} {
		if got := r.allowed(target); got != want {
			t.Errorf("allowed(%q) = %v, want %v", target, got, want)
		}
	}
	for _, bad := range []string{"app.example.com", "https://x.example.com/?q=1", "https://u@x.example.com", "https://x.example.com/#f"} {
		if _, err := compileRedirects("https://app.example.com", []string{bad}); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
}

// TestRedirectGlobs: Nhost's glob forms in allowed redirect URLs. `**` is any path (none
// included); `*` in a path is one or more characters within one segment; `*` in a host is as
// before. A glob path matches the whole path (a trailing slash aside), not a prefix. The
// bypasses that hold against plain rules hold against globbed ones.
func TestRedirectGlobs(t *testing.T) {
	r, err := compileRedirects("https://app.example.com", []string{
		"http://localhost:3000/**",
		"https://cb.example.com/cb-*/done",
		"https://cb.example.com/a/**/z",
		"https://pr-*.example.org",
		"https://*.preview.example.net/auth/**",
	})
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		// http://localhost:3000/**: any path on that origin, and only on it.
		"http://localhost:3000":                   true,
		"http://localhost:3000/":                  true,
		"http://localhost:3000/a":                 true,
		"http://localhost:3000/a/b/c?x=1#f":       true,
		"HTTP://LOCALHOST:3000/X":                 true,
		"http://localhost:3000//evil.example":     true, // a path on localhost:3000, as browsers read it
		"http://localhost:3000.evil.com/":         false,
		"http://localhost:3000@evil.com/":         false,
		"http://localhost@evil.com:3000/":         false,
		"http://user:pw@localhost:3000/":          false,
		"http://evil.com/#@localhost:3000/":       false,
		"http://evil.com/?@localhost:3000/":       false,
		"http://evil.com\\@localhost:3000/":       false,
		"http://localhost:3000\\@evil.com/":       false,
		"http://localhost:3000%2F@evil.com/":      false,
		"http://localhost%2eevil.com:3000/":       false,
		"http://localhost:3000 @evil.com/":        false,
		"http://localhost:3001/":                  false,
		"http://localhost:03000/":                 false,
		"https://localhost:3000/":                 false,
		"http://localhost/":                       false,
		"http://localhost.evil.com:3000/":         false,
		"http://127.0.0.1:3000/":                  false,
		"http://[::1]:3000/":                      false,
		"http://localhost:3000/a/../../x":         false,
		"http://localhost:3000/%2e%2e/x":          false,
		"//localhost:3000/":                       false,
		"http:/localhost:3000/":                   false,
		"http:localhost:3000/":                    false,
		"javascript://localhost:3000/%0aalert(1)": false,
		// /cb-*/done: one segment, at least one character.
		"https://cb.example.com/cb-1/done":      true,
		"https://cb.example.com/cb-abc/done/":   true,
		"https://cb.example.com/cb-/done":       false,
		"https://cb.example.com/cb-1/x/done":    false,
		"https://cb.example.com/cb-1/done/more": false,
		"https://cb.example.com/cb-1":           false,
		"https://cb.example.com/cbx1/done":      false,
		"https://cb.example.com/cb-1%2Fx/done":  false, // an encoded slash is a slash
		// /a/**/z: any number of segments between.
		"https://cb.example.com/a/z":     true,
		"https://cb.example.com/a/b/z":   true,
		"https://cb.example.com/a/b/c/z": true,
		"https://cb.example.com/a/b/c":   false,
		"https://cb.example.com/a/zz":    false,
		// pr-*.example.org: `*` within a label.
		"https://pr-12.example.org/x":                true,
		"https://pr-.example.org/":                   false,
		"https://pr-1.example.org.evil.com/":         false,
		"https://xpr-1.example.org/":                 false,
		"https://pr-1.example.org@evil.com/":         false,
		"https://evil.com/pr-1.example.org":          false,
		"https://evil.com/?https://pr-1.example.org": false,
		// *.preview.example.net/auth/**: both at once.
		"https://pr-3.preview.example.net/auth":         true,
		"https://pr-3.preview.example.net/auth/cb":      true,
		"https://pr-3.preview.example.net/authx":        false,
		"https://pr-3.preview.example.net/other/auth":   false,
		"https://preview.example.net/auth":              false,
		"https://pr-3.preview.example.net.evil/auth/cb": false,
	} {
		if got := r.allowed(target); got != want {
			t.Errorf("allowed(%q) = %v, want %v", target, got, want)
		}
	}
	// Pattern syntax beyond `*` and `**` is refused at start, never stored as a literal.
	for _, bad := range []string{
		"https://**.example.com",
		"http://localhost:3000/a**",
		"http://localhost:3000/**x/y",
		"http://localhost:3000/{a,b}",
		"http://localhost:3000/[ab]",
		"http://localhost:3000/!(x)",
		"http://localhost:3000/@(a|b)",
		"http?(s)://website.com",
		"http://localhost:*",
	} {
		if _, err := compileRedirects("https://app.example.com", []string{bad}); err == nil {
			t.Errorf("rule %q accepted", bad)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("rule %q: error %q does not name it", bad, err)
		}
	}
	// The client URL is where links go by default: a URL, not a pattern.
	if _, err := compileRedirects("https://*.example.com", nil); err == nil {
		t.Error("a pattern as the client URL was accepted")
	}
}

// TestWildMatch: each `*` is one or more characters, wherever the literal parts fall.
func TestWildMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"a*b*c", "abbxc", true}, // "b" first appears where the star has taken nothing yet
		{"a*b*c", "axbyc", true},
		{"a*b*c", "abc", false},
		{"*", "", false},
		{"*", "x", true},
		{"pr-*", "pr-", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", ".example.com", false},
		{"x*x", "xx", false},
		{"x*x", "xax", true},
		{"plain", "plain", true},
		{"plain", "plainer", false},
	} {
		if got := wildMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// TestRedirectLookAlikeHosts: a target's host is compared as a browser resolves it, through IDNA
// to its ASCII form. Unicode lower-casing maps İ to i, so https://app.İbm.com, a domain of its own
// (app.xn--ibm-8dc.com), passed for the allowed https://app.ibm.com and the mailed link's
// redirect carried a fresh refresh token there.
func TestRedirectLookAlikeHosts(t *testing.T) {
	r, err := compileRedirects("https://app.ibm.com", []string{"https://*.preview.ibm.com", "https://bücher.example"})
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"https://app.İbm.com/x":             false,
		"https://app.%C4%B0bm.com/x":        false, // the same, percent-encoded
		"https://pr-1.preview.İbm.com/x":    false,
		"https://app.i\u0307bm.com/x":       false, // what IDNA makes of İ: still app.xn--ibm-8dc.com
		"https://app.\u212Abm.com/x":        false, // the Kelvin sign: app.kbm.com, not listed
		"https://APP.IBM.COM/x":             true,
		"https://ａｐｐ.ibm.com/x":             true, // full-width letters: a browser goes to app.ibm.com
		"https://bücher.example/":           true,
		"https://BÜCHER.example/":           true,
		"https://xn--bcher-kva.example/":    true,
		"https://b\u00fccher.example.evil/": false,
	} {
		if got := r.allowed(target); got != want {
			t.Errorf("allowed(%q) = %v, want %v", target, got, want)
		}
	}
}
