package server

import (
	"errors"
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
// (default ports implied), and its path, when it has one, as a prefix on a `/` boundary. A path
// may also be a pattern in Nhost's glob forms: `*` stands for one or more characters within one
// segment and a `**` segment for any number of segments (none included), and such a pattern must
// match the whole path, a trailing slash aside (`http://localhost:3000/**` is any path there).
// Other glob syntax (braces, classes, extglobs, `**` inside a segment or in a host) is refused
// when the rules are compiled, never kept as a literal path. The client URL is always a rule.
type redirectRules struct {
	rules []redirectRule
}

type redirectRule struct {
	scheme, host, port, path string
	glob                     []string // the path's segments when it is a pattern; nil: path is a prefix
}

// CheckRedirectURLs reports whether the client URL and the allowed redirect URLs are usable
// rules, so configuration can be refused before the server starts.
func CheckRedirectURLs(clientURL string, allowed []string) error {
	_, err := compileRedirects(clientURL, allowed)
	return err
}

func compileRedirects(clientURL string, allowed []string) (*redirectRules, error) {
	r := &redirectRules{}
	if strings.Contains(clientURL, "*") {
		return nil, fmt.Errorf("client URL %q: links go there by default, so it must be a URL, not a pattern", clientURL)
	}
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
		if strings.Contains(host, "**") {
			return nil, fmt.Errorf("allowed redirect URL %q: a host takes `*` (any run of host characters), not `**`", raw)
		}
		key, ok := hostKey(host)
		if !ok {
			return nil, fmt.Errorf("allowed redirect URL %q: the host is not a valid domain name (a `*` pattern must be plain ASCII)", raw)
		}
		rule := redirectRule{
			scheme: strings.ToLower(u.Scheme),
			host:   key,
			port:   port,
			path:   strings.TrimRight(u.Path, "/"),
		}
		segs, err := pathGlob(rule.path)
		if err != nil {
			return nil, fmt.Errorf("allowed redirect URL %q: %w", raw, err)
		}
		if strings.Contains(rule.path, "*") {
			rule.glob = segs
		}
		r.rules = append(r.rules, rule)
	}
	return r, nil
}

// pathGlob splits a rule's path into segments, refusing glob syntax the rules would not honour
// (which would otherwise be matched as literal text).
func pathGlob(path string) ([]string, error) {
	segs := strings.Split(path, "/")
	for _, seg := range segs {
		switch {
		case strings.Contains(seg, "**") && seg != "**":
			return nil, fmt.Errorf("`**` must be a whole path segment (/**/), not part of %q", seg)
		case strings.ContainsAny(seg, "{}[]"):
			return nil, errors.New("only `*` and `**` patterns are supported, not braces or character classes")
		}
		for _, ext := range []string{"*(", "+(", "@(", "!("} {
			if strings.Contains(seg, ext) {
				return nil, errors.New("only `*` and `**` patterns are supported, not extended globs")
			}
		}
	}
	return segs, nil
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
		if strings.ToLower(u.Scheme) != rule.scheme || port != rule.port || !hostMatches(rule.host, host) {
			continue
		}
		if rule.glob != nil && globMatches(rule.glob, strings.Split(strings.TrimRight(u.Path, "/"), "/")) ||
			rule.glob == nil && pathWithin(rule.path, u.Path) {
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
	return wildMatch(pattern, host)
}

// wildMatch matches s against a pattern in which each `*` stands for one or more characters.
// Each literal part goes at its first place after the star before it: that leaves the longest
// rest, and a rest that starts after a star matches whenever a shorter one does.
func wildMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	rest := s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		if rest == "" {
			return false
		}
		j := strings.Index(rest[1:], p)
		if j < 0 {
			return false
		}
		rest = rest[1+j+len(p):]
	}
	last := parts[len(parts)-1]
	return len(rest) > len(last) && strings.HasSuffix(rest, last)
}

// globMatches matches path segments against pattern segments: `**` is any number of segments,
// none included; any other segment matches one segment by wildMatch.
func globMatches(pattern, segs []string) bool {
	// ok[j]: the pattern so far matches segs[:j].
	ok := make([]bool, len(segs)+1)
	ok[0] = true
	for _, p := range pattern {
		next := make([]bool, len(segs)+1)
		if p == "**" {
			reached := false
			for j := range next {
				reached = reached || ok[j]
				next[j] = reached
			}
		} else {
			for j := 1; j < len(next); j++ {
				next[j] = ok[j-1] && wildMatch(p, segs[j-1])
			}
		}
		ok = next
	}
	return ok[len(segs)]
}

// pathWithin reports whether path is prefix itself or below it.
func pathWithin(prefix, path string) bool {
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
