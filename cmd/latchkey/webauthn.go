package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/server"
)

// webAuthnConfig checks the WebAuthn settings. Unset names, ids and origins are settled by the
// server from the app name and the client URL (server.WebAuthnConfig).
func (c *config) webAuthnConfig() (server.WebAuthnConfig, error) {
	w := server.WebAuthnConfig{
		Enabled:     c.WebAuthnEnabled,
		RPName:      c.WebAuthnRPName,
		RPID:        strings.TrimSpace(c.WebAuthnRPID),
		Attestation: c.WebAuthnAttestation,
	}
	switch w.Attestation {
	case "none", "indirect", "direct", "enterprise":
	default:
		return w, fmt.Errorf("webauthn-attestation / LATCHKEY_WEBAUTHN_ATTESTATION must be none, indirect, direct or enterprise, not %q", w.Attestation)
	}
	for _, o := range c.WebAuthnRPOrigins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return w, fmt.Errorf("webauthn-rp-origins / LATCHKEY_WEBAUTHN_RP_ORIGINS: %q is not an origin (scheme://host[:port])", o)
		}
		w.RPOrigins = append(w.RPOrigins, u.Scheme+"://"+u.Host)
	}
	return w, nil
}
