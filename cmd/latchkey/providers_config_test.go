package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestProviderConfig(t *testing.T) {
	t.Run("case=defaults", func(t *testing.T) {
		def, _, err := parseServe(t, nil)
		if err != nil || len(def.Providers) != 0 || !def.ProviderLinkByEmail {
			t.Errorf("defaults: %v %+v %t", err, def.Providers, def.ProviderLinkByEmail)
		}
	})
	for i, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LATCHKEY_PROVIDER_OIDC_CLIENT_ID": "x", "LATCHKEY_PROVIDER_OIDC_CLIENT_SECRET": "y"}, "LATCHKEY_PROVIDER_OIDC_ISSUER"},
		{map[string]string{"LATCHKEY_PROVIDER_GITLAB_CLIENT_ID": "x"}, "LATCHKEY_PROVIDER_GITLAB_CLIENT_SECRET"},
		{map[string]string{"LATCHKEY_PROVIDER_APPLE_CLIENT_ID": "x", "LATCHKEY_PROVIDER_APPLE_TEAM_ID": "t"}, "LATCHKEY_PROVIDER_APPLE_CLIENT_SECRET"},
		{map[string]string{"LATCHKEY_PROVIDER_GITLAB_CLIENT_ID": "x", "LATCHKEY_PROVIDER_GITLAB_CLIENT_SECRET": "y",
			"LATCHKEY_PROVIDER_GITLAB_TOKEN_URL": "ftp://gitlab"}, "LATCHKEY_PROVIDER_GITLAB_TOKEN_URL"},
	} {
		t.Run(fmt.Sprintf("case=refused-%d", i), func(t *testing.T) {
			if _, _, err := parseServe(t, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: error %v, want one naming %s", c.env, err, c.want)
			}
		})
	}
	secret := filepath.Join(t.TempDir(), "gh")
	if err := os.WriteFile(secret, []byte("gh-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, err := parseServe(t, map[string]string{
		"LATCHKEY_PROVIDER_GITHUB_CLIENT_ID":          "gh-id",
		"LATCHKEY_PROVIDER_GITHUB_CLIENT_SECRET_FILE": secret,
		"LATCHKEY_PROVIDER_GITHUB_API_URL":            "https://github.example.com/api/v3",
		"LATCHKEY_PROVIDER_GOOGLE_CLIENT_ID":          "web.apps, ios.apps",
		"LATCHKEY_PROVIDER_GOOGLE_CLIENT_SECRET":      "g-secret",
		"LATCHKEY_PROVIDER_OIDC_CLIENT_ID":            "kc",
		"LATCHKEY_PROVIDER_OIDC_CLIENT_SECRET":        "kc-secret",
		"LATCHKEY_PROVIDER_OIDC_ISSUER":               "https://sso.example.com/realms/main",
		"LATCHKEY_PROVIDER_OIDC_SCOPES":               "openid email groups",
		"LATCHKEY_PROVIDER_LINK_BY_EMAIL":             "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	gh, g, o := got.Providers["github"], got.Providers["google"], got.Providers["oidc"]
	if len(got.Providers) != 3 || gh.ClientSecret != "gh-secret" || gh.APIURL != "https://github.example.com/api/v3" ||
		!slices.Equal(g.ClientIDs, []string{"web.apps", "ios.apps"}) || o.Issuer != "https://sso.example.com/realms/main" ||
		!slices.Equal(o.Scopes, []string{"openid", "email", "groups"}) || got.ProviderLinkByEmail {
		t.Errorf("providers = %+v, link by email %t", got.Providers, got.ProviderLinkByEmail)
	}
}
