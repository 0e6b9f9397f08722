package server_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestProviderProfileMapping: every provider of the table, through its overridden endpoints,
// maps its profile onto the account: id (the link's subject), address and whether it is vouched,
// name and picture.
func TestProviderProfileMapping(t *testing.T) {
	type want struct {
		subject, email string
		verified       bool
		name, avatar   string
	}
	oidc := func(sub, email string, verified bool) servertest.FakeAccount {
		return servertest.FakeAccount{Subject: sub, Email: email, EmailVerified: verified, Name: "Name " + sub, Picture: "https://pics.example/" + sub + ".png"}
	}
	rows := []struct {
		provider string
		account  servertest.FakeAccount
		want     want
	}{
		{"google", oidc("g1", "g1@example.com", true), want{"g1", "g1@example.com", true, "Name g1", "https://pics.example/g1.png"}},
		{"linkedin", func() servertest.FakeAccount {
			a := oidc("li1", "li1@example.com", true)
			a.Claims = map[string]any{"locale": map[string]any{"country": "US", "language": "en"}} // LinkedIn's locale is an object
			return a
		}(), want{"li1", "li1@example.com", true, "Name li1", "https://pics.example/li1.png"}},
		{"azuread", oidc("az1", "az1@example.com", false), want{"az1", "az1@example.com", false, "Name az1", "https://pics.example/az1.png"}},
		{"entraid", oidc("en1", "en1@example.com", false), want{"en1", "en1@example.com", false, "Name en1", "https://pics.example/en1.png"}},
		{"oidc", servertest.FakeAccount{Subject: "kc1", Email: "kc1@example.com", EmailVerified: true, Claims: map[string]any{"given_name": "Kay", "family_name": "Cloak"}},
			want{"kc1", "kc1@example.com", true, "Kay Cloak", ""}},
		{"apple", servertest.FakeAccount{Subject: "ap1", Email: "ap1@privaterelay.example", Claims: map[string]any{"email_verified": "true"}},
			want{"ap1", "ap1@privaterelay.example", true, "Ada Apple", ""}},
		{"github", githubAccount("5151", "gh@example.com", true), want{"5151", "gh@example.com", true, "Octo 5151", "https://avatars.example/5151.png"}},
		{"gitlab", gitlabAccount("6161", "gl@example.com"), want{"6161", "gl@example.com", true, "Git Lab", "https://gl.example/a.png"}},
		{"bitbucket", bitbucketAccount("{bb-1}", "bb@example.com"), want{"{bb-1}", "bb@example.com", false, "Bit Bucket", "https://bb.example/a.png"}},
		{"discord", servertest.FakeAccount{Subject: "d", API: map[string]any{"/users/@me": map[string]any{
			"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "email": "nelly@example.com", "verified": true, "avatar": "8342729096ea3675"}}},
			want{"80351110224678912", "nelly@example.com", true, "Nelly", "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675.png"}},
		{"spotify", servertest.FakeAccount{Subject: "s", API: map[string]any{"/me": map[string]any{
			"id": "spot1", "display_name": "Spot Ify", "email": "spot@example.com", "images": []any{map[string]any{"url": "https://sp.example/i.png"}}}}},
			want{"spot1", "spot@example.com", false, "Spot Ify", "https://sp.example/i.png"}},
		{"twitch", servertest.FakeAccount{Subject: "t", API: map[string]any{"/users": map[string]any{"data": []any{map[string]any{
			"id": "141981764", "login": "twitchdev", "display_name": "TwitchDev", "email": "twitch@example.com", "profile_image_url": "https://tw.example/p.png"}}}}},
			want{"141981764", "twitch@example.com", true, "TwitchDev", "https://tw.example/p.png"}},
		{"workos", servertest.FakeAccount{Subject: "w", TokenExtra: map[string]any{"profile": map[string]any{
			"id": "prof_01", "email": "wo@example.com", "first_name": "Work", "last_name": "Os"}}},
			want{"prof_01", "wo@example.com", false, "Work Os", ""}},
		{"strava", servertest.FakeAccount{Subject: "st", API: map[string]any{"/athlete": map[string]any{
			"id": 134815, "firstname": "Str", "lastname": "Ava", "profile": "https://st.example/p.jpg"}}},
			want{"134815", "", false, "Str Ava", "https://st.example/p.jpg"}},
		{"facebook", servertest.FakeAccount{Subject: "f", API: map[string]any{"/me": map[string]any{
			"id": "fb1", "name": "Face Book", "email": "fb@example.com", "picture": map[string]any{"data": map[string]any{"url": "https://fb.example/p.jpg"}}}}},
			want{"fb1", "fb@example.com", true, "Face Book", "https://fb.example/p.jpg"}},
		{"windowslive", servertest.FakeAccount{Subject: "wl", API: map[string]any{"/me": map[string]any{
			"id": "wl1", "name": "Windows Live", "emails": map[string]any{"preferred": "wl@example.com", "account": "wl-account@example.com"}}}},
			want{"wl1", "wl@example.com", false, "Windows Live", ""}},
		{"twitter", servertest.FakeAccount{Subject: "x", API: map[string]any{"/users/me": map[string]any{"data": map[string]any{
			"id": "tw1", "name": "Twit Ter", "username": "twitter", "profile_image_url": "https://x.example/p.png", "confirmed_email": "tw@example.com"}}}},
			want{"tw1", "tw@example.com", true, "Twit Ter", "https://x.example/p.png"}},
	}
	seen := map[string]bool{}
	h, fp := startWithProviders(t)
	for _, r := range rows {
		seen[r.provider] = true
		t.Run("provider="+r.provider, func(t *testing.T) {
			u := sessionFrom(t, h, providerSignIn(t, h, fp, r.provider, r.account, nil)).User
			email := ""
			if u.Email != nil {
				email = string(*u.Email)
			}
			if email != r.want.email || u.EmailVerified != r.want.verified || u.DisplayName != r.want.name || u.AvatarUrl != r.want.avatar {
				t.Errorf("user: email %q verified %t name %q avatar %q; want %+v", email, u.EmailVerified, u.DisplayName, u.AvatarUrl, r.want)
			}
			list, err := h.Client.AdminListUserProvidersWithResponse(context.Background(), uuid.MustParse(u.Id), asAdmin)
			if err != nil || list.JSON200 == nil || len(list.JSON200.Providers) != 1 || list.JSON200.Providers[0].ProviderUserId != r.want.subject ||
				list.JSON200.Providers[0].Provider != r.provider {
				t.Errorf("link: %v %s; want subject %q", err, list.Body, r.want.subject)
			}
		})
	}
	for _, name := range server.ProviderNames() {
		if !seen[name] {
			t.Errorf("provider %s has no mapping scenario", name)
		}
	}
}
