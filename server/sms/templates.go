package sms

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"text/template"
	"time"
)

// Kind is a text's kind; each has a template per locale.
type Kind string

// The text kinds.
const (
	KindSignInCode Kind = "signin-code" // the one-time sign-in code (Code, ExpiresIn)
	KindTest       Kind = "test"        // `latchkey sms test`
)

// Data is what templates see.
type Data struct {
	AppName   string
	Code      string
	ExpiresIn time.Duration
}

//go:embed templates
var builtin embed.FS

// fallbackLocale is the last locale tried; every kind exists in it.
const fallbackLocale = "en"

// Templates holds every kind's template per locale.
type Templates struct {
	byKey         map[string]*template.Template // "en/signin-code"
	defaultLocale string
}

var funcs = template.FuncMap{
	"minutes": func(d time.Duration) int { return int(math.Ceil(d.Minutes())) },
}

// LoadTemplates parses the built-in templates, then those in dir (laid out alike:
// <locale>/<kind>.txt), which replace or add to them; dir "" is none. defaultLocale is tried
// after the user's locale and before English.
func LoadTemplates(dir, defaultLocale string) (*Templates, error) {
	t := &Templates{byKey: map[string]*template.Template{}, defaultLocale: defaultLocale}
	sub, err := fs.Sub(builtin, "templates")
	if err != nil {
		return nil, err
	}
	if err := t.load(sub); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := t.load(os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("sms templates in %s: %w", dir, err)
		}
	}
	for _, k := range []Kind{KindSignInCode, KindTest} {
		if t.byKey[fallbackLocale+"/"+string(k)] == nil {
			return nil, fmt.Errorf("sms template %s/%s missing", fallbackLocale, k)
		}
	}
	return t, nil
}

// load parses every <locale>/<kind>.txt of fsys.
func (t *Templates) load(fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".txt") || strings.Count(p, "/") != 1 {
			return err
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		key := strings.TrimSuffix(p, ".txt")
		tpl, err := template.New(key).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("sms template %s: %w", p, err)
		}
		t.byKey[key] = tpl
		return nil
	})
}

// Render writes the text of kind in locale (else the default locale, else English).
func (t *Templates) Render(kind Kind, locale string, d Data) (string, error) {
	for _, l := range []string{locale, t.defaultLocale, fallbackLocale} {
		tpl := t.byKey[l+"/"+string(kind)]
		if tpl == nil {
			continue
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, d); err != nil {
			return "", fmt.Errorf("render sms %s: %w", kind, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	return "", fmt.Errorf("no sms template %s", kind)
}
