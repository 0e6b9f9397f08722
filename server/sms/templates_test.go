package sms_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/sms"
)

func TestTemplates(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "es"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "es", "signin-code.txt"), []byte("Tu código de {{.AppName}}: {{.Code}} ({{minutes .ExpiresIn}} min)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := sms.LoadTemplates(dir, "de")
	if err != nil {
		t.Fatal(err)
	}
	d := sms.Data{AppName: "Acme", Code: "123456", ExpiresIn: 5 * time.Minute}
	for _, c := range []struct{ locale, want string }{
		{"es", "Tu código de Acme: 123456 (5 min)"},         // from the directory
		{"fr", "123456 est votre code de connexion à Acme"}, // built in
		{"xx", "123456 ist dein Anmeldecode für Acme"},      // the default locale
		{"en", "123456 is your Acme sign-in code. It works for 5 minutes"},
	} {
		got, err := tpl.Render(sms.KindSignInCode, c.locale, d)
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, %v; want it to start %q", c.locale, got, err, c.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "es", "test.txt"), []byte("{{.Nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sms.LoadTemplates(dir, "en"); err == nil {
		t.Fatal("a broken template loaded")
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, region, e164, typ string }{
		{"+4915123456789", "", "+4915123456789", sms.TypeMobile},
		{"0151 2345-6789", "DE", "+4915123456789", sms.TypeMobile},
		{"0049 151 23456789", "DE", "+4915123456789", sms.TypeMobile},
		{"+1 (201) 555-0123", "", "+12015550123", sms.TypeFixedOrMobile},
		{"+49 900 1234567", "", "+499001234567", sms.TypePremiumRate},
		{"+49 180 1234567", "", "+491801234567", sms.TypeSharedCost},
	} {
		n, err := sms.Parse(c.in, c.region)
		if err != nil || n.E164 != c.e164 || n.Type != c.typ {
			t.Errorf("Parse(%q, %q) = %+v, %v; want %s (%s)", c.in, c.region, n, err, c.e164, c.typ)
		}
	}
	for _, in := range []string{"", "0151 23456789", "+49 151 CALLME", "hello", "+49 151"} {
		if _, err := sms.Parse(in, ""); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}
