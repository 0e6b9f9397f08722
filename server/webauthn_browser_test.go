package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/servertest"
)

// webAuthnPage is the application page of TestWebAuthnInBrowser. It talks to Latchkey as an
// Nhost client does, through the page's own origin (the test's server forwards /v1 to
// Latchkey), and hands options and credentials between Latchkey and the browser with the
// browser's own JSON conversions, so what Latchkey must accept is what Chromium sends.
const webAuthnPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>passkeys</title></head><body>
<script>
async function call(path, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const res = await fetch("/v1" + path, {method: "POST", headers, body: JSON.stringify(body || {})});
  const data = await res.json();
  if (!res.ok) throw new Error(path + ": " + res.status + " " + JSON.stringify(data));
  return data;
}
async function register(email) {
  const opts = await call("/signup/webauthn", {email});
  const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts)});
  return (await call("/signup/webauthn/verify", {credential: cred.toJSON(), nickname: "browser"})).session;
}
async function assert(path, body, token) {
  const opts = await call(path, body, token);
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts)});
  return (await call(path + "/verify", {credential: cred.toJSON()}, token)).session;
}
function claims(token) {
  const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(b64))["https://hasura.io/jwt/claims"];
}
window.flow = async function(email) {
  const signedUp = await register(email);
  await call("/signout", {refreshToken: signedUp.refreshToken});
  const signedIn = await assert("/signin/webauthn", {});
  const elevated = await assert("/elevate/webauthn", null, signedIn.accessToken);
  return JSON.stringify({
    signedUp: signedUp.user.id, signedIn: signedIn.user.id,
    plain: claims(signedIn.accessToken)["x-hasura-auth-elevated"] || "",
    elevated: claims(elevated.accessToken)["x-hasura-auth-elevated"] || "",
  });
};
</script></body></html>`

// TestWebAuthnInBrowser runs the passkey flow in headless Chromium with the DevTools virtual
// authenticator: a page at an allowed origin (http://localhost:<port>, a secure context) signs a
// user up with a passkey through Latchkey, signs out, signs in with the passkey alone (no
// address), and elevates; the elevated access token names the user in x-hasura-auth-elevated.
func TestWebAuthnInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	page := httptest.NewUnstartedServer(nil)
	t.Cleanup(page.Close)
	_, port, _ := strings.Cut(page.Listener.Addr().String(), ":")
	origin := "http://localhost:" + port
	h := servertest.Start(t, func(c *server.Config) {
		c.WebAuthn = server.WebAuthnConfig{Enabled: true, RPID: "localhost", RPOrigins: []string{origin}}
	})
	latchkey, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", httputil.NewSingleHostReverseProxy(latchkey))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(webAuthnPage))
	})
	page.Config.Handler = mux
	page.Start()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v", chrome, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within a minute", chrome)
	}
	defer func() {
		if t.Failed() {
			keepScreenshot(t, tab)
		}
	}()

	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("enable WebAuthn domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
			Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`flow("browser@example.com")`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("passkey flow in the page: %v", err)
	}
	var got struct{ SignedUp, SignedIn, Plain, Elevated string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("page answered %q: %v", out, err)
	}
	if got.SignedUp == "" || got.SignedIn != got.SignedUp {
		t.Errorf("passkey sign-in as %q, signed up as %q", got.SignedIn, got.SignedUp)
	}
	if got.Plain != "" {
		t.Errorf("the sign-in token is elevated: %q", got.Plain)
	}
	if got.Elevated != got.SignedUp {
		t.Errorf("elevated token's x-hasura-auth-elevated = %q, want %q", got.Elevated, got.SignedUp)
	}
}
