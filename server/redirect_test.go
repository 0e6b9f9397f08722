package server

import "testing"

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
