package server

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// This file is the edge of the server: which address a request really came from (trusted
// proxies), which browser origins may call it (CORS), and the security headers every answer
// carries, errors and 404s included.

// edges is what the edge middleware needs, prepared once from the configuration.
type edges struct {
	proxies     []netip.Prefix
	anyOrigin   bool            // CORS "*": any origin, never with credentials
	origins     map[string]bool // allowed origins, as browsers send them (scheme://host[:port])
	credentials bool
	hstsValue   string // Strict-Transport-Security on HTTPS answers; "" when off
}

func newEdges(cfg Config) (*edges, error) {
	e := &edges{origins: map[string]bool{}, credentials: cfg.CORSCredentials}
	var err error
	if e.proxies, err = ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	for _, o := range cfg.CORSOrigins {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*":
			e.anyOrigin = true
		default:
			norm, err := NormalizeOrigin(o)
			if err != nil {
				return nil, err
			}
			e.origins[norm] = true
		}
	}
	if e.anyOrigin && (len(e.origins) > 0 || e.credentials) {
		return nil, fmt.Errorf("CORS origin * stands alone and cannot allow credentials")
	}
	if cfg.HSTSMaxAge > 0 {
		e.hstsValue = "max-age=" + strconv.FormatInt(int64(cfg.HSTSMaxAge.Seconds()), 10)
	}
	return e, nil
}

// ParseTrustedProxies reads IP addresses and CIDR prefixes ("10.0.0.0/8", "192.0.2.7", "::1").
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", s)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

var originPattern = regexp.MustCompile(`^(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$`)

// NormalizeOrigin checks a configured CORS origin ("https://app.example.com", "http://localhost:3000")
// and returns it the way browsers send it in Origin.
func NormalizeOrigin(o string) (string, error) {
	n := strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
	if !originPattern.MatchString(n) {
		return "", fmt.Errorf("CORS origin %q is not scheme://host[:port] (http or https, no path)", o)
	}
	return n, nil
}

func (e *edges) trusted(a netip.Addr) bool {
	for _, p := range e.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the one place the caller's address is decided. The TCP peer is the client unless
// it is a trusted proxy; then the forwarding headers are walked from the right (the hop the
// nearest proxy saw), skipping further trusted proxies, and the first untrusted address is the
// client. A malformed forwarding header is not believed at all: the peer is the client. https
// reports whether the request came over TLS, or a trusted proxy says it did.
func (e *edges) clientAddr(r *http.Request) (ip string, https bool) {
	https = r.TLS != nil
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, https
	}
	a := peer.Addr().Unmap()
	if len(e.proxies) == 0 || !e.trusted(a) {
		return a.String(), https
	}
	if proto := lastListItem(r.Header.Values("X-Forwarded-Proto")); proto != "" {
		https = https || strings.EqualFold(proto, "https")
	} else if proto := forwardedParam(r.Header.Values("Forwarded"), "proto"); proto != "" {
		https = https || strings.EqualFold(proto, "https")
	}
	chain, ok := forwardedChain(r.Header)
	if !ok || len(chain) == 0 {
		return a.String(), https
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if !e.trusted(chain[i]) {
			return chain[i].String(), https
		}
	}
	return chain[0].String(), https // every hop is ours: the first one is as far as we can see
}

// forwardedChain reads the addresses the proxies recorded, oldest first: X-Forwarded-For, else
// Forwarded's for= parameters, else X-Real-IP. ok is false when the header present is malformed.
func forwardedChain(h http.Header) (chain []netip.Addr, ok bool) {
	if vs := h.Values("X-Forwarded-For"); len(vs) > 0 {
		for _, item := range splitList(vs) {
			a, ok := parseHop(item)
			if !ok {
				return nil, false
			}
			chain = append(chain, a)
		}
		return chain, true
	}
	if vs := h.Values("Forwarded"); len(vs) > 0 {
		for _, elem := range splitList(vs) {
			v, found := pairValue(elem, "for")
			if !found {
				return nil, false
			}
			a, ok := parseHop(v)
			if !ok {
				return nil, false // "unknown" and obfuscated identifiers name no address
			}
			chain = append(chain, a)
		}
		return chain, true
	}
	if v := strings.TrimSpace(h.Get("X-Real-IP")); v != "" {
		a, ok := parseHop(v)
		if !ok {
			return nil, false
		}
		return []netip.Addr{a}, true
	}
	return nil, true
}

// parseHop reads one forwarded address: "192.0.2.1", "2001:db8::1", "[2001:db8::1]:443",
// "192.0.2.1:8080".
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	return out
}

func lastListItem(values []string) string {
	items := splitList(values)
	if len(items) == 0 {
		return ""
	}
	return items[len(items)-1]
}

// pairValue finds key=value in one Forwarded element ("for=192.0.2.1;proto=https").
func pairValue(elem, key string) (string, bool) {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, key) {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

// forwardedParam is key's value in the last Forwarded element that has it (the nearest proxy's).
func forwardedParam(values []string, key string) string {
	elems := splitList(values)
	for i := len(elems) - 1; i >= 0; i-- {
		if v, ok := pairValue(elems[i], key); ok {
			return v
		}
	}
	return ""
}

// CORS: what a browser page on an allowed origin may send and read. X-Admin-Secret is not among
// the request headers: it is a server-to-server credential that no browser page should hold.
const (
	corsMethods       = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsHeaders       = "Authorization, Content-Type, X-Request-Id"
	corsExposeHeaders = "X-Session-Token, X-Request-Id, WWW-Authenticate, Retry-After"
	corsMaxAge        = "600"
)

// Content-Security-Policy values. JSON answers may load nothing and be framed by nobody; the
// confirmation page needs its inline styles; the Swagger UI at /docs runs its own same-origin
// scripts and the inline ones whose hashes docsScriptHashes lists.
const (
	cspJSON = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// The confirmation page's form posts and is then redirected to the application, so
	// form-action is not restricted (browsers check it on the redirect too).
	cspPage = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)

// docsCSP is /docs's policy: same-origin scripts, styles, images and API calls, plus the inline
// scripts of the page itself by hash.
var docsCSP = sync.OnceValue(func() string {
	return "default-src 'self'; script-src 'self'" + docsScriptHashes() +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'" +
		"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
})

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// docsScriptHashes renders the documentation page once and hashes its inline scripts (the page is
// the same for every request).
func docsScriptHashes() string {
	rec := httptest.NewRecorder()
	docs.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/", nil))
	var b strings.Builder
	for _, m := range inlineScript.FindAllStringSubmatch(rec.Body.String(), -1) {
		sum := sha256.Sum256([]byte(m[1]))
		b.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
	}
	return b.String()
}

// edge sets the security headers of every answer and answers CORS preflights before routing, so
// a preflight never meets the contract validator (whose 405 or 401 a browser would take as a
// refusal). It runs in Echo's Pre chain, right after begin.
func (s *Server) edge(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req, res := c.Request(), c.Response()
		h := res.Header()
		setHeaders(h, "X-Content-Type-Options", "nosniff", "X-Frame-Options", "DENY",
			"Cross-Origin-Opener-Policy", "same-origin", "Content-Security-Policy", cspJSON)
		if stateFrom(req.Context()).https && s.edges.hstsValue != "" {
			h.Set("Strict-Transport-Security", s.edges.hstsValue)
		}
		path := req.URL.Path
		res.Before(func() { // the policy follows what the answer turned out to be
			if ct := h.Get(echo.HeaderContentType); strings.HasPrefix(ct, "text/html") {
				if path == "/docs" || strings.HasPrefix(path, "/docs/") {
					h.Set("Content-Security-Policy", docsCSP())
				} else {
					h.Set("Content-Security-Policy", cspPage)
				}
			}
		})
		origin := req.Header.Get(echo.HeaderOrigin)
		if !s.edges.anyOrigin && len(s.edges.origins) == 0 {
			return next(c)
		}
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		allowed := origin != "" && (s.edges.anyOrigin || s.edges.origins[strings.ToLower(origin)])
		if !allowed {
			return next(c) // no CORS headers: the browser keeps the answer from the page
		}
		if s.edges.anyOrigin {
			h.Set(echo.HeaderAccessControlAllowOrigin, "*")
		} else {
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			if s.edges.credentials {
				h.Set(echo.HeaderAccessControlAllowCredentials, "true")
			}
		}
		if req.Method == http.MethodOptions && req.Header.Get(echo.HeaderAccessControlRequestMethod) != "" {
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
			h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
			h.Set(echo.HeaderAccessControlAllowMethods, corsMethods)
			h.Set(echo.HeaderAccessControlAllowHeaders, corsHeaders)
			h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
			return c.NoContent(http.StatusNoContent)
		}
		h.Set(echo.HeaderAccessControlExposeHeaders, corsExposeHeaders)
		return next(c)
	}
}
