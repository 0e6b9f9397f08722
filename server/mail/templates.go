package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// Kind is a message kind; each has a subject, a text and an HTML template per locale.
type Kind string

// The message kinds. The comment says what the template uses besides AppName, DisplayName,
// Email and ClientURL.
const (
	KindEmailVerify        Kind = "email-verify"         // verify a new account's address (Link, Code)
	KindEmailConfirmChange Kind = "email-confirm-change" // confirm a new address, sent to the NEW address (Link, Code, NewEmail)
	KindEmailChangeNotice  Kind = "email-change-notice"  // notice to the OLD address that a change was requested (NewEmail; no link)
	KindPasswordReset      Kind = "password-reset"       // (Link, Code)
	KindSignInPasswordless Kind = "signin-passwordless"  // magic link (Link, Code)
	KindSignInOTP          Kind = "signin-otp"           // 6-digit one-time code (Code; no link)
	KindAccountExists      Kind = "account-exists"       // in conceal mode, to an address someone tried to sign up or move an account to (no link)
	KindTest               Kind = "test"                 // `latchkey mail test`
)

// Kinds lists every kind.
func Kinds() []Kind {
	return []Kind{KindEmailVerify, KindEmailConfirmChange, KindEmailChangeNotice, KindPasswordReset,
		KindSignInPasswordless, KindSignInOTP, KindAccountExists, KindTest}
}

// Data is what templates see.
type Data struct {
	AppName     string        // product name shown in mail, e.g. "Latchkey"
	DisplayName string        // recipient's display name, may be ""
	Email       string        // recipient address
	NewEmail    string        // email change: the requested address
	Link        string        // action link, "" when the kind has none
	Code        string        // short code for the same ticket, or the OTP
	ExpiresIn   time.Duration // how long Link/Code stay valid
	ClientURL   string        // the application's URL
}

// fallbackLocale is the last locale tried, and the one every kind is guaranteed to exist in.
const fallbackLocale = "en"

// builtin holds the templates shipped with Latchkey, laid out like an override directory.
//
//go:embed templates
var builtin embed.FS

// part is one of the three templates of a kind.
type part int

const (
	partSubject part = iota
	partText
	partHTML
)

// suffix is the part's file name suffix after the kind.
func (p part) suffix() string {
	switch p {
	case partSubject:
		return ".subject.txt"
	case partText:
		return ".txt"
	default:
		return ".html"
	}
}

// tmplKey names one template of a locale.
type tmplKey struct {
	kind Kind
	part part
}

// executor is what text/template and html/template templates have in common.
type executor interface {
	Execute(w *bytes.Buffer, d Data) error
}

// textExec and htmlExec adapt the two template packages to executor.
type (
	textExec struct{ t *texttemplate.Template }
	htmlExec struct{ t *htmltemplate.Template }
)

func (e textExec) Execute(w *bytes.Buffer, d Data) error { return e.t.Execute(w, d) }
func (e htmlExec) Execute(w *bytes.Buffer, d Data) error { return e.t.Execute(w, d) }

// tmpl is one parsed template and the file it came from, for error messages.
type tmpl struct {
	exec executor
	file string
}

// Templates renders messages. It is immutable after LoadTemplates and safe for concurrent use.
type Templates struct {
	defaultLocale string
	byLocale      map[string]map[tmplKey]tmpl
}

// LoadTemplates parses the built-in templates and, when overrideDir is not "", the files in it,
// and returns the result.
//
// Built-in templates exist for locales "en", "fr" and "de" for every Kind, embedded from
// server/mail/templates/<locale>/<kind>.subject.txt, <kind>.txt and <kind>.html. An override
// directory with the same layout replaces individual files: any file present there wins over the
// embedded one, and it may add new (two-letter) locales. An empty HTML file makes a kind text
// only. Missing files fall back: requested locale, then defaultLocale, then "en". A locale is
// matched case-insensitively on its first two letters ("fr-CA" -> "fr").
//
// Every template is parsed and test-rendered here, so a broken override is an error naming its
// file at startup rather than at the first mail; so is a file whose name is not a known
// <locale>/<kind>.<part>. Text and subject use text/template; HTML uses html/template. The
// template function `duration` formats ExpiresIn in words in the file's locale ("1 hour",
// "10 minutes"; French "1 heure" ...).
func LoadTemplates(overrideDir, defaultLocale string) (*Templates, error) {
	def := fallbackLocale
	if defaultLocale != "" {
		var ok bool
		if def, ok = normalizeLocale(defaultLocale); !ok {
			return nil, fmt.Errorf("default locale %q: not a language code", defaultLocale)
		}
	}
	sources := map[string]map[tmplKey]source{}
	sub, err := fs.Sub(builtin, "templates")
	if err != nil {
		return nil, fmt.Errorf("open built-in mail templates: %w", err)
	}
	if err := collect(sources, sub, "builtin:"); err != nil {
		return nil, err
	}
	if overrideDir != "" {
		if fi, err := os.Stat(overrideDir); err != nil {
			return nil, fmt.Errorf("mail template override dir: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("mail template override dir %s: not a directory", overrideDir)
		}
		if err := collect(sources, os.DirFS(overrideDir), overrideDir+string(filepath.Separator)); err != nil {
			return nil, err
		}
	}
	t := &Templates{defaultLocale: def, byLocale: map[string]map[tmplKey]tmpl{}}
	for locale, files := range sources {
		parsed := map[tmplKey]tmpl{}
		funcs := map[string]any{"duration": func(d time.Duration) string { return formatDuration(locale, d) }}
		for k, src := range files {
			p, err := parse(k, src, funcs)
			if err != nil {
				return nil, err
			}
			parsed[k] = p
		}
		t.byLocale[locale] = parsed
	}
	if err := t.trial(); err != nil {
		return nil, err
	}
	return t, nil
}

// source is one template file's text and where it came from.
type source struct {
	text string
	file string
}

// collect reads every <locale>/<kind>.<part> file of fsys into sources, replacing what is there.
// prefix turns a path in fsys into the name errors show. Hidden files and directories are skipped.
func collect(sources map[string]map[tmplKey]source, fsys fs.FS, prefix string) error {
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("read mail templates %s: %w", prefix, err)
	}
	for _, dir := range dirs {
		if strings.HasPrefix(dir.Name(), ".") {
			continue
		}
		name := prefix + dir.Name()
		locale, ok := normalizeLocale(dir.Name())
		if !dir.IsDir() || !ok || len(dir.Name()) != 2 {
			return fmt.Errorf("mail templates: %s: want a directory named for a two-letter locale such as \"en\"", name)
		}
		files, err := fs.ReadDir(fsys, dir.Name())
		if err != nil {
			return fmt.Errorf("read mail templates %s: %w", name, err)
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name(), ".") {
				continue
			}
			fname := prefix + path.Join(dir.Name(), f.Name())
			k, ok := parseFileName(f.Name())
			if !ok || f.IsDir() {
				return fmt.Errorf("mail templates: %s: want <kind>.subject.txt, <kind>.txt or <kind>.html for a kind in %s", fname, kindList())
			}
			b, err := fs.ReadFile(fsys, path.Join(dir.Name(), f.Name()))
			if err != nil {
				return fmt.Errorf("read mail template %s: %w", fname, err)
			}
			if sources[locale] == nil {
				sources[locale] = map[tmplKey]source{}
			}
			sources[locale][k] = source{text: string(b), file: fname}
		}
	}
	return nil
}

// parseFileName splits "password-reset.subject.txt" into its kind and part.
func parseFileName(name string) (tmplKey, bool) {
	for _, p := range []part{partSubject, partText, partHTML} { // subject first: ".txt" also ends ".subject.txt"
		if base, ok := strings.CutSuffix(name, p.suffix()); ok {
			k := Kind(base)
			return tmplKey{kind: k, part: p}, slices.Contains(Kinds(), k)
		}
	}
	return tmplKey{}, false
}

// kindList is the kinds as "a, b, c" for error messages.
func kindList() string {
	var names []string
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// parse compiles one template file.
func parse(k tmplKey, src source, funcs map[string]any) (tmpl, error) {
	if k.part == partHTML {
		t, err := htmltemplate.New(src.file).Funcs(funcs).Parse(src.text)
		if err != nil {
			return tmpl{}, fmt.Errorf("parse mail template %s: %w", src.file, err)
		}
		return tmpl{exec: htmlExec{t}, file: src.file}, nil
	}
	t, err := texttemplate.New(src.file).Funcs(funcs).Parse(src.text)
	if err != nil {
		return tmpl{}, fmt.Errorf("parse mail template %s: %w", src.file, err)
	}
	return tmpl{exec: textExec{t}, file: src.file}, nil
}

// trial renders every template with sample data, so that errors only execution finds (a field
// Data does not have, a wrong argument to a function) show at load time.
func (t *Templates) trial() error {
	d := Data{AppName: "Latchkey", DisplayName: "Ada", Email: "ada@example.com", NewEmail: "ada@example.org",
		Link: "https://auth.example.com/v1/verify?ticket=sample", Code: "12345678", ExpiresIn: time.Hour,
		ClientURL: "https://app.example.com"}
	var buf bytes.Buffer
	for _, files := range t.byLocale {
		for _, p := range files {
			buf.Reset()
			if err := p.exec.Execute(&buf, d); err != nil {
				return fmt.Errorf("mail template %s: %w", p.file, err)
			}
		}
	}
	return nil
}

// Render renders kind for a recipient who prefers locale, falling back file by file to the
// default locale and then "en". The message goes to d.Email. It fails when d.Link is set and the
// text body does not contain it, which guards against an override that drops the link.
func (t *Templates) Render(kind Kind, locale string, d Data) (Message, error) {
	if !slices.Contains(Kinds(), kind) {
		return Message{}, fmt.Errorf("render mail: unknown kind %q", kind)
	}
	subject, err := t.execute(kind, partSubject, locale, d)
	if err != nil {
		return Message{}, err
	}
	text, err := t.execute(kind, partText, locale, d)
	if err != nil {
		return Message{}, err
	}
	html, err := t.execute(kind, partHTML, locale, d)
	if err != nil {
		return Message{}, err
	}
	m := Message{To: d.Email, Subject: strings.Join(strings.Fields(subject), " "), Text: tidyText(text)}
	if strings.TrimSpace(html) != "" {
		m.HTML = html
	}
	switch {
	case m.Subject == "":
		return Message{}, fmt.Errorf("render %s mail (%s): empty subject", kind, locale)
	case strings.TrimSpace(m.Text) == "":
		return Message{}, fmt.Errorf("render %s mail (%s): empty text body", kind, locale)
	case d.Link != "" && !strings.Contains(m.Text, d.Link):
		return Message{}, fmt.Errorf("render %s mail (%s): text template %s does not show the link",
			kind, locale, t.lookup(kind, partText, locale).file)
	}
	return m, nil
}

// execute renders one part of kind for locale.
func (t *Templates) execute(kind Kind, p part, locale string, d Data) (string, error) {
	tm := t.lookup(kind, p, locale)
	if tm.exec == nil { // cannot happen while the built-in "en" set is complete; templates_test checks it is
		return "", fmt.Errorf("render %s mail: no %s template", kind, p.suffix())
	}
	var buf bytes.Buffer
	if err := tm.exec.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render %s mail: %s: %w", kind, tm.file, err)
	}
	return buf.String(), nil
}

// lookup finds the template for one part: requested locale, then default, then "en".
func (t *Templates) lookup(kind Kind, p part, locale string) tmpl {
	k := tmplKey{kind: kind, part: p}
	chain := []string{t.defaultLocale, fallbackLocale}
	if l, ok := normalizeLocale(locale); ok {
		chain = append([]string{l}, chain...)
	}
	for _, l := range chain {
		if tm, ok := t.byLocale[l][k]; ok {
			return tm
		}
	}
	return tmpl{}
}

// Locales lists the locales that have a complete set (all kinds, all three parts) after
// overrides, sorted.
func (t *Templates) Locales() []string {
	var out []string
	for l, files := range t.byLocale {
		complete := true
		for _, k := range Kinds() {
			for _, p := range []part{partSubject, partText, partHTML} {
				if _, ok := files[tmplKey{kind: k, part: p}]; !ok {
					complete = false
				}
			}
		}
		if complete {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// normalizeLocale maps a locale such as "fr-CA" or "FR" to its lower-case language, "fr".
func normalizeLocale(locale string) (string, bool) {
	if len(locale) < 2 {
		return "", false
	}
	l := strings.ToLower(locale[:2])
	for _, c := range l {
		if c < 'a' || c > 'z' {
			return "", false
		}
	}
	if len(locale) > 2 && locale[2] != '-' && locale[2] != '_' {
		return "", false // "english" is not "en"
	}
	return l, true
}

// tidyText trims trailing spaces from every line, drops leading and repeated blank lines and ends
// the text with one newline, so that templates can use conditionals without counting newlines.
func tidyText(s string) string {
	var out []string
	blank := false
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}
