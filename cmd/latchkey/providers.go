package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
)

// providerSettings are one external provider's settings (LATCHKEY_PROVIDER_<NAME>_*).
type providerSettings struct {
	ClientID, ClientSecret, Scopes    string
	Issuer, AuthURL, TokenURL, APIURL string
	TeamID, KeyID, PrivateKey         string // Apple
	Tenant                            string // Azure AD, Entra ID
	Organization, Connection          string // WorkOS
}

// providerFlags are the settings of every provider of the table, generated from it, and the
// linking rule.
func (c *config) providerFlags() []cli.Flag {
	if c.providers == nil {
		c.providers = map[string]*providerSettings{}
	}
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "provider-link-by-email", Value: true, Destination: &c.ProviderLinkByEmail, Sources: c.env(false, "LATCHKEY_PROVIDER_LINK_BY_EMAIL"),
			Usage: "sign a provider account in to the existing account with the same address when the provider vouches for the address " +
				"and the account's address is verified; off: such a sign-in is refused (email-already-in-use)"},
		&cli.BoolFlag{Name: "provider-keep-tokens", Destination: &c.ProviderKeepTokens, Sources: c.env(false, "LATCHKEY_PROVIDER_KEEP_TOKENS"),
			Usage: "keep the access and refresh tokens a provider hands over at each sign-in through it, encrypted at rest with the secrets key " +
				"like TOTP secrets (needs LATCHKEY_SECRETS_KEY on PostgreSQL; generated on SQLite); off: none is stored, and a sign-in removes any kept before"},
	}
	for _, name := range server.ProviderNames() {
		ps := c.providers[name]
		if ps == nil {
			ps = &providerSettings{}
			c.providers[name] = ps
		}
		env := "LATCHKEY_PROVIDER_" + strings.ToUpper(name) + "_"
		add := func(suffix string, dest *string, secret bool, usage string) {
			flags = append(flags, &cli.StringFlag{Name: "provider-" + name + "-" + suffix, Destination: dest,
				Sources: c.env(secret, env+strings.ToUpper(strings.ReplaceAll(suffix, "-", "_"))), Usage: usage})
		}
		add("client-id", &ps.ClientID, false, name+" client id; set: the provider is on. Several, comma-separated: the first is the web client "+
			"the redirect flow uses, every one is an accepted ID-token audience (iOS, Android, web)")
		add("client-secret", &ps.ClientSecret, true, name+" client secret")
		if server.ProviderOIDC(name) {
			usage := name + " OpenID Connect issuer (its discovery document is at <issuer>/.well-known/openid-configuration); empty: the provider's own"
			if name == "oidc" {
				usage = "issuer of the generic OpenID Connect provider (Keycloak realm, Authentik application, Okta, …); required when it is on"
			}
			add("issuer", &ps.Issuer, false, usage)
		} else {
			add("auth-url", &ps.AuthURL, false, name+" authorization endpoint; empty: the provider's own")
			add("token-url", &ps.TokenURL, false, name+" token endpoint; empty: the provider's own")
			add("api-url", &ps.APIURL, false, name+" API base URL the profile is read from; empty: the provider's own")
		}
		add("scopes", &ps.Scopes, false, name+" scopes, space- or comma-separated; empty: the provider's defaults")
		switch name {
		case "apple":
			add("team-id", &ps.TeamID, false, "Apple developer team id, for client secrets signed with the key below")
			add("key-id", &ps.KeyID, false, "Apple Sign in with Apple key id")
			add("private-key", &ps.PrivateKey, true, "Apple Sign in with Apple private key (PEM); used when no client secret is set")
		case "azuread", "entraid":
			add("tenant", &ps.Tenant, false, name+" tenant id or domain; empty: common (any organisation or personal account)")
		case "workos":
			add("organization", &ps.Organization, false, "WorkOS organization id sign-in goes through")
			add("connection", &ps.Connection, false, "WorkOS connection id sign-in goes through")
		}
	}
	return flags
}

// providerConfigs validates the provider settings and converts them for the server.
func (c *config) providerConfigs(bad func(name, env, why string)) map[string]server.ProviderConfig {
	out := map[string]server.ProviderConfig{}
	for _, name := range server.ProviderNames() {
		ps := c.providers[name]
		if ps == nil || strings.TrimSpace(ps.ClientID) == "" {
			continue
		}
		env := "LATCHKEY_PROVIDER_" + strings.ToUpper(name) + "_"
		flag := "provider-" + name + "-"
		pc := server.ProviderConfig{ClientIDs: splitList(ps.ClientID), ClientSecret: ps.ClientSecret, Scopes: splitList(ps.Scopes),
			Issuer: ps.Issuer, AuthURL: ps.AuthURL, TokenURL: ps.TokenURL, APIURL: ps.APIURL,
			AppleTeamID: ps.TeamID, AppleKeyID: ps.KeyID, ApplePrivateKey: ps.PrivateKey, Tenant: ps.Tenant,
			Organization: ps.Organization, Connection: ps.Connection}
		for suffix, v := range map[string]string{"issuer": ps.Issuer, "auth-url": ps.AuthURL, "token-url": ps.TokenURL, "api-url": ps.APIURL} {
			if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
				bad(flag+suffix, env+strings.ToUpper(strings.ReplaceAll(suffix, "-", "_")), "must be an http or https URL")
			}
		}
		switch {
		case name == "oidc" && ps.Issuer == "":
			bad(flag+"issuer", env+"ISSUER", "is required when the generic OpenID Connect provider is on")
		case name == "apple" && ps.ClientSecret == "" && (ps.TeamID == "" || ps.KeyID == "" || ps.PrivateKey == ""):
			bad(flag+"client-secret", env+"CLIENT_SECRET", "or the team id, key id and private key are required when Apple is on")
		case name != "apple" && ps.ClientSecret == "":
			bad(flag+"client-secret", env+"CLIENT_SECRET", fmt.Sprintf("is required when %s is on", name))
		}
		out[name] = pc
	}
	return out
}

// splitList splits a comma- or space-separated list, dropping empty items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}
