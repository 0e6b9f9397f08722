package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
)

// referenceFile is where `make generate` writes the configuration reference.
const referenceFile = "docs/configuration.md"

// configReferenceCommand is `latchkey config-reference`, hidden: `make generate` runs it to write
// docs/configuration.md from the same flag definitions `latchkey serve --help` prints, so the
// reference cannot drift from the code.
func configReferenceCommand(stdout io.Writer) *cli.Command {
	var out string
	return &cli.Command{
		Name:   "config-reference",
		Usage:  "write the configuration reference (markdown) generated from the flag definitions",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Destination: &out, Usage: "file to write; empty: standard output"},
		},
		Action: func(context.Context, *cli.Command) error {
			doc, err := configReference()
			if err != nil {
				return err
			}
			if out == "" {
				_, err = stdout.Write(doc)
				return err
			}
			return os.WriteFile(out, doc, 0o644)
		},
	}
}

// referenceGroup is one section of the reference: the flags whose names match one of its
// patterns (a name, or a prefix ending in *), in the order serve defines them.
type referenceGroup struct {
	title, intro string
	match        []string
}

// referenceGroups sort the settings by what they are about. A flag no pattern matches still
// appears, under "Other settings": add its name or prefix here when that happens.
var referenceGroups = []referenceGroup{
	{"Server and runtime", "Where Latchkey listens, how it logs, and the limits of one request and of the process. " +
		"Failures and shutdown: [operations.md](operations.md#failures); metrics: [deployment.md](deployment.md#metrics).",
		[]string{"addr", "metrics-*", "log-*", "max-body", "read-header-timeout", "request-timeout", "shutdown-timeout", "memory-limit", "pprof-*"}},
	{"Database", "SQLite in the data directory unless a PostgreSQL URL is set. " +
		"Several instances on one PostgreSQL: [deployment.md](deployment.md).",
		[]string{"data-dir", "database-*", "db-*"}},
	{"Session cache and revocation", "Authenticated requests are answered from memory, and a revocation reaches every instance within the bound: " +
		"[revocation.md](revocation.md).",
		[]string{"revocation-*", "session-cache-*"}},
	{"Tokens and sessions", "Lifetimes of the tokens each dialect hands out, and how long spent tokens and ended sessions are kept. " +
		"What each dialect does with them: [dialects.md](dialects.md).",
		[]string{"access-token-*", "refresh-*", "wme-*", "zesty-*", "keep-sessions-*", "spent-token-*", "ended-session-*", "purge-*", "pat-*", "reset-revokes-pats"}},
	{"Signing keys", "Access tokens are signed with managed keys that live in the database, or with a fixed key shared with Hasura. " +
		"Rotation: [deployment.md](deployment.md#signing-keys).",
		[]string{"jwt-*", "key-*", "clock-skew"}},
	{"Security keys and elevation", "WebAuthn security keys and passkeys, and the elevated access tokens they give: [webauthn.md](webauthn.md).",
		[]string{"webauthn-*", "require-elevated-claim"}},
	{"Users and sign-up", "Who may make an account, and what a new one gets.", []string{"default-*", "allowed-locales", "anonymous-*", "disable-*", "require-*", "conceal-*"}},
	{"Passwords", "The password policy applies wherever a password is chosen. " +
		"Hashing under load and the breach check: [operations.md](operations.md#passwords).",
		[]string{"password-*", "hash-*", "hibp-*"}},
	{"Admin API", "Who may call `/v1/admin`: [dialects.md](dialects.md#admin-api).", []string{"admin-*"}},
	{"Mail and mailed links", "Without an SMTP host, mail is written to the log. " +
		"The outbox, codes and templates: [operations.md](operations.md#mail).",
		[]string{"smtp-*", "mail-*", "app-name", "public-url", "client-url", "allowed-redirect-*", "confirm-links", "email-*", "ticket-*", "otp-*", "code-*"}},
	{"SMS sign-in", "Phone sign-in by texted code, the SMS provider, and the limits that keep SMS pumping away: [sms.md](sms.md).",
		[]string{"sms-*"}},
	{"Proxies, browsers and HTTPS", "Behind a load balancer: [deployment.md](deployment.md#behind-a-load-balancer).",
		[]string{"trusted-proxies", "cors-*", "hsts-*"}},
	{"Rate limits and lockout", "What each group counts, and how locks work: [operations.md](operations.md#rate-limits-and-lockout).",
		[]string{"rate-limit*", "lockout-*"}},
	{"External sign-in providers", "Sign-in with GitHub, Google, Apple and the other providers, and any OpenID Connect issuer. " +
		"A provider is on when its client id is set; register `<public URL>/v1/signin/provider/<name>/callback` with it. " +
		"Recipes: [providers.md](providers.md).",
		[]string{"provider-*"}},
	{"Redis", "Optional: the rate-limit counters in Redis instead of the database. " +
		"What happens when Redis fails: [deployment.md](deployment.md#redis-optional).",
		[]string{"redis-*"}},
	{"Second factor (TOTP) and sealed secrets", "TOTP sign-in, recovery codes, and the key that encrypts TOTP secrets at rest: " +
		"[mfa.md](mfa.md).",
		[]string{"mfa-*", "secrets-*"}},
}

// rank is the index of the first pattern that matches name, or -1: flags are listed in the order
// of the patterns, then in the order serve defines them.
func (g referenceGroup) rank(name string) int {
	for i, m := range g.match {
		if p, ok := strings.CutSuffix(m, "*"); ok && strings.HasPrefix(name, p) || m == name {
			return i
		}
	}
	return -1
}

// configReference renders docs/configuration.md from the command tree newApp builds.
func configReference() ([]byte, error) {
	app := newApp(io.Discard, io.Discard)
	var serve *cli.Command
	for _, c := range app.Commands {
		if c.Name == "serve" {
			serve = c
		}
	}
	if serve == nil {
		return nil, fmt.Errorf("config reference: no serve command")
	}
	flags := visibleFlags(serve.Flags)

	var b bytes.Buffer
	b.WriteString(`# Configuration

<!-- Generated by "make generate" (latchkey config-reference) from the flag definitions in
cmd/latchkey. Do not edit: change a flag's usage text instead. -->

Every setting is a flag of ` + "`latchkey serve`" + ` with an environment variable; a flag wins over its
variable. Secrets can also be read from a file: set the variable with ` + "`_FILE`" + ` appended to the
file's path (Docker and Kubernetes secrets); one trailing newline is dropped. Settings are
validated once at start, and every problem is reported at once. ` + "`latchkey serve --help`" + ` prints
the same list.

Values: durations as Go writes them (` + "`90s`, `15m`, `720h`" + `), sizes with a unit (` + "`64KiB`, `128MiB`" + `),
lists comma-separated (or the flag repeated), switches ` + "`true`" + ` or ` + "`false`" + ` (a bare flag is true).

`)
	groups := append(slices.Clone(referenceGroups), referenceGroup{title: "Other settings"})
	placed := map[string]bool{}
	var sections [][]cli.Flag
	for i, g := range groups {
		var in []cli.Flag
		for _, f := range flags {
			if name := f.Names()[0]; !placed[name] && (g.rank(name) >= 0 || i == len(groups)-1) {
				placed[name] = true
				in = append(in, f)
			}
		}
		slices.SortStableFunc(in, func(a, b cli.Flag) int { return g.rank(a.Names()[0]) - g.rank(b.Names()[0]) })
		sections = append(sections, in)
	}
	for i, g := range groups {
		if len(sections[i]) > 0 {
			fmt.Fprintf(&b, "- [%s](#%s)\n", g.title, anchor(g.title))
		}
	}
	b.WriteString("- [Commands](#commands)\n")
	for i, g := range groups {
		if len(sections[i]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n", g.title)
		if g.intro != "" {
			b.WriteString(g.intro + "\n\n")
		}
		b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
		for _, f := range sections[i] {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", flagCell(f), envCell(f), defaultCell(f), cellText(usage(f)))
		}
	}

	b.WriteString("\n## Commands\n\n")
	b.WriteString("`latchkey` alone runs `serve`. The other commands take the settings they share with `serve` from the same flags and variables.\n")
	var serveNames []string
	for _, f := range flags {
		serveNames = append(serveNames, f.Names()[0])
	}
	writeCommands(&b, app.Commands, "latchkey", serveNames)
	return b.Bytes(), nil
}

// writeCommands lists every visible command under prefix, with the flags it has beyond serve's
// (serveNames, in serve's order) and those of serve it reads.
func writeCommands(b *bytes.Buffer, cmds []*cli.Command, prefix string, serveNames []string) {
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		path := prefix + " " + c.Name
		if len(c.Commands) > 0 {
			writeCommands(b, c.Commands, path, serveNames)
			continue
		}
		fmt.Fprintf(b, "\n### `%s`\n\n%s.\n", path, capitalise(cellText(c.Usage)))
		if c.Name == "serve" {
			continue
		}
		var own, shared []string
		reads := map[string]bool{}
		for _, f := range visibleFlags(c.Flags) {
			name := f.Names()[0]
			if slices.Contains(serveNames, name) {
				shared = append(shared, "`--"+name+"`")
				reads[name] = true
				continue
			}
			line := "- `--" + name + "`"
			if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
				line += " (required)"
			} else if d := defaultCell(f); d != "empty" && d != "off" {
				line += " (default " + d + ")"
			}
			own = append(own, line+": "+cellText(usage(f)))
		}
		if len(own) > 0 {
			b.WriteString("\n" + strings.Join(own, "\n") + "\n")
		}
		var unread []string
		for _, name := range serveNames {
			if !reads[name] {
				unread = append(unread, "`--"+name+"`")
			}
		}
		switch {
		case len(unread) == 0:
			b.WriteString("\nIt also reads every setting of `serve`.\n")
		case len(unread) < len(shared):
			b.WriteString("\nIt also reads every setting of `serve` but " + strings.Join(unread, ", ") + ".\n")
		case len(shared) > 0:
			b.WriteString("\nSettings shared with `serve`: " + strings.Join(shared, ", ") + ".\n")
		}
	}
}

// visibleFlags drops hidden flags and the help flag.
func visibleFlags(fs []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range fs {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		if f.Names()[0] == "help" {
			continue
		}
		out = append(out, f)
	}
	return out
}

func usage(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.GetUsage()
	}
	return ""
}

// flagCell is the flag's name and, unless it is a plain string or a switch, what kind of value it takes.
func flagCell(f cli.Flag) string {
	cell := "`--" + f.Names()[0] + "`"
	switch f.(type) {
	case *cli.BoolFlag, *cli.StringFlag:
	case *cli.StringSliceFlag:
		cell += " (list)"
	case *cli.DurationFlag:
		cell += " (duration)"
	case *cli.Int64Flag, *cli.IntFlag, *cli.Uint64Flag, *cli.UintFlag:
		cell += " (number)"
	default:
		if t, ok := f.(interface{ TypeName() string }); ok && t.TypeName() != "" {
			cell += " (" + t.TypeName() + ")"
		}
	}
	return cell
}

// envCell lists the flag's environment variables; a secret's *_FILE variables are named too.
func envCell(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	var vars, files []string
	for _, k := range d.GetEnvVars() {
		if base, ok := strings.CutSuffix(k, "_FILE"); ok && slices.Contains(d.GetEnvVars(), base) {
			files = append(files, "`"+k+"`")
		} else {
			vars = append(vars, "`"+k+"`")
		}
	}
	cell := strings.Join(vars, ", ")
	if len(files) > 0 {
		cell += "<br>secret, or from a file: " + strings.Join(files, ", ")
	}
	return cell
}

// defaultCell is the default as one would write it in the variable: 15m rather than 15m0s,
// user,me for a list, on/off for a switch, "empty" for nothing.
func defaultCell(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok && d.GetDefaultText() != "" {
		return "`" + d.GetDefaultText() + "`"
	}
	var v string
	switch f := f.(type) {
	case *cli.BoolFlag:
		if f.Value {
			return "on"
		}
		return "off"
	case *cli.StringFlag:
		v = f.Value
		// A rate limit's default is RateLimit.String: 30/1m0s reads better as 30/1m.
		if n, w, ok := strings.Cut(v, "/"); ok {
			if d, err := time.ParseDuration(w); err == nil {
				v = n + "/" + shortDuration(d)
			}
		}
	case *cli.StringSliceFlag:
		v = strings.Join(f.Value, ",")
	case *cli.DurationFlag:
		v = shortDuration(f.Value)
	case *cli.Int64Flag:
		v = strconv.FormatInt(f.Value, 10)
	default:
		if d, ok := f.(cli.DocGenerationFlag); ok {
			v = d.GetValue()
		}
	}
	if v == "" {
		return "empty"
	}
	return "`" + v + "`"
}

// shortDuration drops the zero units time.Duration.String keeps: 720h0m0s → 720h, 1m0s → 1m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// cellText escapes what markdown would otherwise read as a table border, a tag or emphasis.
func cellText(s string) string {
	return strings.NewReplacer(`\`, `\\`, "|", `\|`, "<", "&lt;", "*", `\*`, "\n", " ").Replace(s)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// anchor is the fragment GitHub gives a heading: lower case, spaces to dashes, punctuation dropped.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
