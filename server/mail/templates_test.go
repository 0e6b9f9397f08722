package mail_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server/mail"
)

// sampleData is what the server passes for kind.
func sampleData(kind mail.Kind) mail.Data {
	d := mail.Data{AppName: "Latchkey", DisplayName: "Ada Lovelace", Email: "ada@example.com",
		ClientURL: "https://app.example.com"}
	switch kind {
	case mail.KindSignInOTP:
		d.Code, d.ExpiresIn = "482913", 10*time.Minute
	case mail.KindEmailChangeNotice:
		d.NewEmail = "ada@example.org"
	case mail.KindTest, mail.KindAccountExists:
	default:
		d.Link = "https://auth.example.com/v1/verify?ticket=T0K3N&type=" + string(kind) + "&redirectTo=https%3A%2F%2Fapp.example.com"
		d.Code, d.ExpiresIn = "73914258", time.Hour
		if kind == mail.KindEmailConfirmChange {
			d.Email, d.NewEmail = "ada@example.org", "ada@example.org"
		}
	}
	return d
}

// loadTemplates loads templates or fails the test.
func loadTemplates(t *testing.T, dir, defaultLocale string) *mail.Templates {
	t.Helper()
	tp, err := mail.LoadTemplates(dir, defaultLocale)
	if err != nil {
		t.Fatalf("LoadTemplates(%q, %q): %v", dir, defaultLocale, err)
	}
	return tp
}

// writeFile writes one override file under dir, creating its locale directory.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRenderEveryKindInEveryBuiltInLocale(t *testing.T) {
	tp := loadTemplates(t, "", "")
	if got, want := tp.Locales(), []string{"de", "en", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Locales() = %v, want %v", got, want)
	}
	locales := []struct {
		locale, greeting, ignore, hour, tenMinutes string
	}{
		{"en", "Hello Ada Lovelace,", "If you did not ask for this, ignore this message.", "1 hour", "10 minutes"},
		{"fr", "Bonjour Ada Lovelace,", "ignorez ce message.", "1 heure", "10 minutes"},
		{"de", "Hallo Ada Lovelace,", "ignorieren Sie diese Nachricht.", "1 Stunde", "10 Minuten"},
	}
	for _, l := range locales {
		for _, kind := range mail.Kinds() {
			t.Run("locale="+l.locale+"/kind="+string(kind), func(t *testing.T) {
				d := sampleData(kind)
				m, err := tp.Render(kind, l.locale, d)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if m.To != d.Email {
					t.Errorf("To = %q, want %q", m.To, d.Email)
				}
				if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || !strings.Contains(m.Subject, "Latchkey") {
					t.Errorf("Subject = %q, want one line naming the app", m.Subject)
				}
				if m.HTML == "" || !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, `lang="`+l.locale+`"`) {
					t.Errorf("HTML does not look like a %s document:\n%s", l.locale, m.HTML)
				}
				for _, part := range []struct{ name, body string }{{"text", m.Text}, {"html", m.HTML}} {
					if strings.Contains(part.body, "<no value>") || strings.Contains(part.body, "{{") {
						t.Errorf("%s has template leftovers:\n%s", part.name, part.body)
					}
					if !strings.Contains(part.body, l.greeting) {
						t.Errorf("%s lacks greeting %q:\n%s", part.name, l.greeting, part.body)
					}
					if strings.Contains(part.body, "src=") || strings.Contains(part.body, "<link") {
						t.Errorf("%s loads external resources:\n%s", part.name, part.body)
					}
				}
				wantText := []string{}
				switch kind {
				case mail.KindSignInOTP:
					wantText = append(wantText, "\n"+d.Code+"\n", l.tenMinutes, l.ignore)
				case mail.KindEmailChangeNotice:
					wantText = append(wantText, d.Email, d.NewEmail)
				case mail.KindAccountExists:
					wantText = append(wantText, d.Email, l.ignore)
				case mail.KindTest:
				default:
					wantText = append(wantText, "\n"+d.Link+"\n", d.Code, l.hour, l.ignore)
					if !strings.Contains(m.HTML, `href="https://auth.example.com/v1/verify?ticket=T0K3N&amp;type=`) {
						t.Errorf("HTML lacks the link as a button:\n%s", m.HTML)
					}
					if kind == mail.KindEmailConfirmChange && !strings.Contains(m.Text, d.NewEmail) {
						t.Errorf("text does not name the new address %s:\n%s", d.NewEmail, m.Text)
					}
				}
				for _, w := range wantText {
					if !strings.Contains(m.Text, w) {
						t.Errorf("text lacks %q:\n%s", w, m.Text)
					}
				}
				if l.locale == "en" && d.Link != "" && !strings.Contains(m.Text, "Or enter this code: "+d.Code) {
					t.Errorf("text lacks %q:\n%s", "Or enter this code: "+d.Code, m.Text)
				}
				if d.Code != "" && !strings.Contains(m.HTML, d.Code) {
					t.Errorf("HTML lacks the code %s:\n%s", d.Code, m.HTML)
				}
			})
		}
	}
}

func TestRenderWithoutDisplayNameLinkOrExpiry(t *testing.T) {
	tp := loadTemplates(t, "", "")
	d := mail.Data{AppName: "Latchkey", Email: "ada@example.com", Code: "73914258"}
	m, err := tp.Render(mail.KindPasswordReset, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Text, "Hello,\n\n") {
		t.Errorf("text should greet without a name:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "Enter this code to choose a new password: 73914258") || strings.Contains(m.Text, "valid for") {
		t.Errorf("code-only text without expiry is wrong:\n%s", m.Text)
	}
	if strings.Contains(m.HTML, "<a href") {
		t.Errorf("HTML has a link though Data has none:\n%s", m.HTML)
	}
	if strings.Contains(m.Text, "\n\n\n") || !strings.HasSuffix(m.Text, "Latchkey\n") {
		t.Errorf("text is not tidy:\n%q", m.Text)
	}
}

func TestRenderLocaleFallback(t *testing.T) {
	subject := func(t *testing.T, tp *mail.Templates, locale string) string {
		t.Helper()
		m, err := tp.Render(mail.KindPasswordReset, locale, sampleData(mail.KindPasswordReset))
		if err != nil {
			t.Fatalf("Render(%q): %v", locale, err)
		}
		return m.Subject
	}
	en, fr, de := "Reset your Latchkey password", "Réinitialisez votre mot de passe Latchkey", "Setzen Sie Ihr Latchkey-Passwort zurück"
	tests := []struct {
		name, defaultLocale, locale, want string
	}{
		{"region-variant", "", "fr-CA", fr},
		{"underscore-and-case", "", "FR_fr", fr},
		{"upper-case", "en", "DE", de},
		{"unknown-to-default", "fr", "xx", fr},
		{"unknown-to-en", "", "xx", en},
		{"empty-to-default", "de", "", de},
		{"default-without-templates-to-en", "es", "xx", en},
		{"not-a-locale-to-default", "fr", "english", fr},
	}
	for _, tt := range tests {
		t.Run("case="+tt.name, func(t *testing.T) {
			tp := loadTemplates(t, "", tt.defaultLocale)
			if got := subject(t, tp, tt.locale); got != tt.want {
				t.Errorf("default %q, locale %q: subject = %q, want %q", tt.defaultLocale, tt.locale, got, tt.want)
			}
		})
	}
	if _, err := mail.LoadTemplates("", "english"); err == nil {
		t.Error(`LoadTemplates with default locale "english" succeeded, want an error`)
	}
}

func TestOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	// Replace one file of a built-in locale.
	writeFile(t, dir, "en/password-reset.txt", "CUSTOM reset for {{.Email}}: {{.Link}} ({{duration .ExpiresIn}})\n")
	// Add a complete locale, Spanish, by copying the English files with a marked subject.
	for _, kind := range mail.Kinds() {
		for _, suffix := range []string{".subject.txt", ".txt", ".html"} {
			b, err := os.ReadFile(filepath.Join("templates", "en", string(kind)+suffix))
			if err != nil {
				t.Fatal(err)
			}
			if suffix == ".subject.txt" {
				b = append([]byte("ES "), b...)
			}
			writeFile(t, dir, "es/"+string(kind)+suffix, string(b))
		}
	}
	// And a partial one, Italian, with a subject only.
	writeFile(t, dir, "it/password-reset.subject.txt", "Reimposta la password di {{.AppName}}\n")
	writeFile(t, dir, ".git/config", "ignored: hidden")

	tp := loadTemplates(t, dir, "fr")
	if got, want := tp.Locales(), []string{"de", "en", "es", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Locales() = %v, want %v (it is incomplete)", got, want)
	}
	d := sampleData(mail.KindPasswordReset)

	m, err := tp.Render(mail.KindPasswordReset, "en-GB", d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "CUSTOM reset for ada@example.com: " + d.Link + " (1 hour)\n"; m.Text != want {
		t.Errorf("overridden text = %q, want %q", m.Text, want)
	}
	if m.Subject != "Reset your Latchkey password" || !strings.Contains(m.HTML, "Reset password") {
		t.Errorf("files not overridden should stay built in: subject %q, html:\n%s", m.Subject, m.HTML)
	}

	m, err = tp.Render(mail.KindSignInOTP, "es", sampleData(mail.KindSignInOTP))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "ES Your Latchkey sign-in code" {
		t.Errorf("added locale: subject = %q", m.Subject)
	}

	// A partial locale falls back file by file to the default locale.
	m, err = tp.Render(mail.KindPasswordReset, "it", d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Reimposta la password di Latchkey" || !strings.HasPrefix(m.Text, "Bonjour Ada Lovelace,") {
		t.Errorf("partial locale: subject %q, text:\n%s", m.Subject, m.Text)
	}
}

func TestOverrideErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name, file, content string
	}{
		{"parse-error-text", "en/password-reset.txt", "{{if .Link}}unclosed"},
		{"parse-error-html", "fr/signin-otp.html", "<p>{{.Code}</p>"},
		{"unknown-field", "de/test.subject.txt", "{{.Nope}}"},
		{"unknown-function", "en/test.txt", "{{money .ExpiresIn}}"},
		{"misspelt-kind", "en/pasword-reset.txt", "{{.Link}}"},
		{"unknown-part", "en/password-reset.md", "x"},
		{"bad-locale-directory", "english/password-reset.txt", "{{.Link}}"},
	}
	for _, tt := range tests {
		t.Run("case="+tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tt.file, tt.content)
			_, err := mail.LoadTemplates(dir, "en")
			if err == nil {
				t.Fatalf("LoadTemplates with %s = %q succeeded, want an error", tt.file, tt.content)
			}
			if want := filepath.Join(dir, filepath.FromSlash(tt.file)); !strings.Contains(err.Error(), want) &&
				!strings.Contains(err.Error(), filepath.Join(dir, strings.Split(tt.file, "/")[0])) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
	if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "missing"), "en"); err == nil {
		t.Error("LoadTemplates with a missing override directory succeeded")
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	tp := loadTemplates(t, "", "")
	d := sampleData(mail.KindEmailVerify)
	d.DisplayName = `<script>alert("x")</script>`
	m, err := tp.Render(mail.KindEmailVerify, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Errorf("HTML does not escape the display name:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, "Hello "+d.DisplayName+",") {
		t.Errorf("text should show the display name as is:\n%s", m.Text)
	}

	d.Link = "javascript:alert(1)"
	m, err = tp.Render(mail.KindEmailVerify, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("HTML links to a javascript: URL:\n%s", m.HTML)
	}
}

func TestRenderRejectsOverrideWithoutLink(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "en/password-reset.txt", "Reset your password with code {{.Code}}.\n")
	tp := loadTemplates(t, dir, "en")

	_, err := tp.Render(mail.KindPasswordReset, "en", sampleData(mail.KindPasswordReset))
	if err == nil {
		t.Fatal("Render with a text template that drops the link succeeded")
	}
	if want := filepath.Join(dir, "en", "password-reset.txt"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	// Without a link to show, the same template is fine.
	d := sampleData(mail.KindPasswordReset)
	d.Link = ""
	if _, err := tp.Render(mail.KindPasswordReset, "en", d); err != nil {
		t.Errorf("Render without a link: %v", err)
	}
}

func TestRenderUnknownKindAndTidySubject(t *testing.T) {
	tp := loadTemplates(t, "", "")
	if _, err := tp.Render("welcome", "en", sampleData(mail.KindTest)); err == nil {
		t.Error(`Render("welcome") succeeded, want an error`)
	}
	d := sampleData(mail.KindTest)
	d.AppName = "Latch\r\nBcc: eve@example.com"
	m, err := tp.Render(mail.KindTest, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject %q has a line break", m.Subject)
	}
}

func TestEmptyHTMLOverrideMeansTextOnly(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "en/test.html", "\n")
	m, err := loadTemplates(t, dir, "").Render(mail.KindTest, "en", sampleData(mail.KindTest))
	if err != nil {
		t.Fatal(err)
	}
	if m.HTML != "" {
		t.Errorf("HTML = %q, want empty", m.HTML)
	}
}
