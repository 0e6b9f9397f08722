package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientAddr decides the client's address from the peer and the forwarding headers.
func TestClientAddr(t *testing.T) {
	trusting, err := newEdges(Config{TrustedProxies: []string{"127.0.0.1", "10.0.0.0/8", " 2001:db8::/32 "}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := newEdges(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		e         *edges
		peer      string
		header    map[string]string
		want      string
		wantHTTPS bool
	}{
		{"no proxies configured: XFF ignored", none, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "127.0.0.1", false},
		{"no proxies configured: proto ignored", none, "127.0.0.1:5000", map[string]string{"X-Forwarded-Proto": "https"}, "127.0.0.1", false},
		{"untrusted peer: XFF ignored", trusting, "198.51.100.9:5000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "198.51.100.9", false},
		{"untrusted peer: X-Real-IP ignored", trusting, "198.51.100.9:5000", map[string]string{"X-Real-IP": "203.0.113.7"}, "198.51.100.9", false},
		{"trusted peer, no header", trusting, "127.0.0.1:5000", nil, "127.0.0.1", false},
		{"trusted peer: rightmost hop", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}, "203.0.113.7", false},
		{"trusted hops skipped", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "192.0.2.1, 203.0.113.7, 10.1.2.3, 10.9.9.9"}, "203.0.113.7", false},
		{"all hops trusted: the first", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "10.1.2.3, 10.9.9.9"}, "10.1.2.3", false},
		{"malformed XFF: peer", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7, garbage"}, "127.0.0.1", false},
		{"empty XFF item: peer", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7,,"}, "127.0.0.1", false},
		{"XFF with port", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7:4711"}, "203.0.113.7", false},
		{"XFF IPv6", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "2001:db9::1"}, "2001:db9::1", false},
		{"XFF IPv4-mapped", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "::ffff:203.0.113.7"}, "203.0.113.7", false},
		{"XFF zone refused", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "fe80::1%eth0"}, "127.0.0.1", false},
		{"trusted IPv6 peer", trusting, "[2001:db8::5]:5000", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7", false},
		{"Forwarded", trusting, "127.0.0.1:5000", map[string]string{"Forwarded": `for=192.0.2.60;proto=https, for="[2001:db9::1]:4711"`}, "2001:db9::1", true},
		{"Forwarded unknown: peer", trusting, "127.0.0.1:5000", map[string]string{"Forwarded": "for=unknown"}, "127.0.0.1", false},
		{"X-Real-IP", trusting, "127.0.0.1:5000", map[string]string{"X-Real-IP": "203.0.113.7"}, "203.0.113.7", false},
		{"X-Real-IP malformed", trusting, "127.0.0.1:5000", map[string]string{"X-Real-IP": "203.0.113.777"}, "127.0.0.1", false},
		{"XFF wins over X-Real-IP", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "192.0.2.1"}, "203.0.113.7", false},
		{"proto https from trusted", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-Proto": "http, https"}, "127.0.0.1", true},
		{"proto http from trusted", trusting, "127.0.0.1:5000", map[string]string{"X-Forwarded-Proto": "http"}, "127.0.0.1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			r.RemoteAddr = c.peer
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			ip, https := c.e.clientAddr(r)
			if ip != c.want || https != c.wantHTTPS {
				t.Errorf("clientAddr = %q, https %v; want %q, https %v", ip, https, c.want, c.wantHTTPS)
			}
		})
	}
}

// TestEdgesConfig refuses settings that cannot work.
func TestEdgesConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string // "" when valid
	}{
		{"defaults", Config{}, ""},
		{"origins", Config{CORSOrigins: []string{"https://App.example.com/", "http://localhost:3000", "http://[::1]:8080"}, CORSCredentials: true}, ""},
		{"star", Config{CORSOrigins: []string{"*"}}, ""},
		{"star with credentials", Config{CORSOrigins: []string{"*"}, CORSCredentials: true}, "stands alone"},
		{"star with others", Config{CORSOrigins: []string{"*", "https://a.example"}}, "stands alone"},
		{"origin with path", Config{CORSOrigins: []string{"https://a.example/app"}}, "not scheme://host"},
		{"origin without scheme", Config{CORSOrigins: []string{"a.example"}}, "not scheme://host"},
		{"bad proxy", Config{TrustedProxies: []string{"10.0.0.0/33"}}, "not an IP address"},
		{"bad proxy name", Config{TrustedProxies: []string{"proxy.local"}}, "not an IP address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newEdges(c.cfg)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("newEdges: %v, want %q", err, c.want)
			}
		})
	}
	e, err := newEdges(Config{HSTSMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if e.hstsValue != "max-age=86400" {
		t.Errorf("HSTS = %q", e.hstsValue)
	}
}
