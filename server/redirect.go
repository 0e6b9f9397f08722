package server

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// redirectRules decides where mailed links may send a browser (and its fresh refresh token).
// Each rule is a URL: its scheme must match exactly, its host exactly or by `*` patterns (a `*`
// matches any run of characters within the host, never `/`, `:` or `@`), its port exactly
// (default ports implied), and its path, when it has one, as a prefix on a `/` boundary. The
// client URL is always a rule.
type redirectRules struct {
	rules []redirectRule
}

type redirectRule struct {
	scheme, host, port, path string
}

// CheckRedirectURLs reports whether the client URL and the allowed redirect URLs are usable
// rules, so configuration can be refused before the server starts.
func CheckRedirectURLs(clientURL string, allowed []string) error {
	_, err := compileRedirects(clientURL, allowed)
	return err
}

func compileRedirects(clientURL string, allowed []string) (*redirectRules, error) {
	r := &redirectRules{}
	for _, raw := range append([]string{clientURL}, allowed...) {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("allowed redirect URL %q: want scheme://host[:port][/path], no user, query or fragment", raw)
		}
		host, port := splitHostPort(u)
		key, ok := hostKey(host)
		if !ok {
			return nil, fmt.Errorf("allowed redirect URL %q: the host is not a valid domain name (a `*` pattern must be plain ASCII)", raw)
		}
		r.rules = append(r.rules, redirectRule{
			scheme: strings.ToLower(u.Scheme),
			host:   key,
			port:   port,
			path:   strings.TrimRight(u.Path, "/"),
		})
	}
	return r, nil
}

// allowed reports whether raw is a redirect target the rules allow.
func (r *redirectRules) allowed(raw string) bool {
	if strings.ContainsAny(raw, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false // a browser would resolve it out of the allowed path
		}
	}
	host, port := splitHostPort(u)
	host, ok := hostKey(host)
	if !ok {
		return false
	}
	for _, rule := range r.rules {
		if strings.ToLower(u.Scheme) == rule.scheme && port == rule.port && hostMatches(rule.host, host) &&
			pathWithin(rule.path, u.Path) {
			return true
		}
	}
	return false
}

// hostKey is how hosts are compared: as a browser resolves them. A plain ASCII host has its letters
// lower-cased; any other goes through IDNA (UTS #46) to its ASCII form, and ok is false when IDNA
// refuses it. Unicode lower-casing would not do: it maps İ to i, so app.İbm.com, a domain of its
// own (app.xn--ibm-8dc.com), would pass for app.ibm.com.
func hostKey(host string) (key string, ok bool) {
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(host)
			return a, err == nil
		}
	}
	return strings.ToLower(host), true // all ASCII: its letters lower-cased, as DNS compares them
}

// splitHostPort returns the host and the port, the scheme's default port when none is given.
func splitHostPort(u *url.URL) (host, port string) {
	host, port = u.Hostname(), u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return host, port
}

// hostMatches matches a host against a pattern in which `*` stands for any run of host
// characters (so it never crosses into a port, a path or user info).
func hostMatches(pattern, host string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == host
	}
	if net.ParseIP(host) != nil {
		return false // patterns are for names; an address must be listed as it is
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(host, parts[0]) {
		return false
	}
	rest := host[len(parts[0]):]
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		if last {
			return strings.HasSuffix(rest, p) && len(rest) > len(p)
		}
		j := strings.Index(rest, p)
		if j < 1 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return false
}

// pathWithin reports whether path is prefix itself or below it.
func pathWithin(prefix, path string) bool {
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
