package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	lkmail "github.com/latchkey/latchkey/server/mail"
	"github.com/latchkey/latchkey/store"
)

// mailConfig is the mail delivery and mailed-link settings.
type mailConfig struct {
	SMTPHost     string
	SMTPPort     int64
	SMTPUser     string
	SMTPPassword string
	SMTPTLS      string
	SMTPFrom     string
	SMTPTimeout  time.Duration
	TemplatesDir string

	AppName              string
	PublicURL            string
	ClientURL            string
	AllowedRedirectURLs  []string
	ConfirmLinks         bool
	EmailVerificationTTL time.Duration
	TicketTTL            time.Duration
	OTPTTL               time.Duration
	CodeMaxAttempts      int64
}

// mailFlags are the SMTP settings and, for serve, the settings of mailed links.
func (c *config) mailFlags(serve bool) []cli.Flag {
	def := server.DefaultConfig()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "smtp-host", Destination: &c.SMTPHost, Sources: c.env(false, "LATCHKEY_SMTP_HOST"),
			Usage: "SMTP server that delivers mail; empty: mail is written to the log (development)"},
		&cli.Int64Flag{Name: "smtp-port", Value: 587, Destination: &c.SMTPPort, Sources: c.env(false, "LATCHKEY_SMTP_PORT"),
			Usage: "SMTP port"},
		&cli.StringFlag{Name: "smtp-user", Destination: &c.SMTPUser, Sources: c.env(false, "LATCHKEY_SMTP_USER"),
			Usage: "SMTP user name; empty: no authentication"},
		&cli.StringFlag{Name: "smtp-password", Destination: &c.SMTPPassword, Sources: c.env(true, "LATCHKEY_SMTP_PASSWORD"),
			Usage: "SMTP password"},
		&cli.StringFlag{Name: "smtp-tls", Value: string(lkmail.TLSStartTLS), Destination: &c.SMTPTLS, Sources: c.env(false, "LATCHKEY_SMTP_TLS"),
			Usage: "starttls (required), tls (implicit, port 465) or none (local relays only)"},
		&cli.StringFlag{Name: "smtp-from", Destination: &c.SMTPFrom, Sources: c.env(false, "LATCHKEY_SMTP_FROM"),
			Usage: `sender of every mail, e.g. "Example <no-reply@example.com>"; required with an SMTP host`},
		&cli.DurationFlag{Name: "smtp-timeout", Value: 10 * time.Second, Destination: &c.SMTPTimeout, Sources: c.env(false, "LATCHKEY_SMTP_TIMEOUT"),
			Usage: "time one delivery attempt may take"},
		&cli.StringFlag{Name: "mail-templates-dir", Destination: &c.TemplatesDir, Sources: c.env(false, "LATCHKEY_MAIL_TEMPLATES_DIR"),
			Usage: "directory of mail templates (<locale>/<kind>.subject.txt, .txt, .html) that replace the built-in ones"},
		&cli.StringFlag{Name: "app-name", Value: def.AppName, Destination: &c.AppName, Sources: c.env(false, "LATCHKEY_APP_NAME"),
			Usage: "product name shown in mail and pages"},
	}
	if !serve {
		return flags
	}
	return append(flags,
		&cli.StringFlag{Name: "public-url", Destination: &c.PublicURL, Sources: c.env(false, "LATCHKEY_PUBLIC_URL"),
			Usage: "URL at which users reach Latchkey; mailed links start with it (default: http://<addr>)"},
		&cli.StringFlag{Name: "client-url", Value: def.ClientURL, Destination: &c.ClientURL, Sources: c.env(false, "LATCHKEY_CLIENT_URL"),
			Usage: "URL of the application; mailed links lead back to it unless redirectTo says otherwise"},
		&cli.StringSliceFlag{Name: "allowed-redirect-urls", Destination: &c.AllowedRedirectURLs, Sources: c.env(false, "LATCHKEY_ALLOWED_REDIRECT_URLS"),
			Usage: "further redirectTo targets (comma-separated): URLs, origins, or patterns with * (within a host, or within one path segment) and ** (any path), e.g. https://*.example.com, http://localhost:3000/**"},
		&cli.BoolFlag{Name: "confirm-links", Destination: &c.ConfirmLinks, Sources: c.env(false, "LATCHKEY_CONFIRM_LINKS"),
			Usage: "mailed links open a page whose button completes them, so mail scanners that open links spend nothing"},
		&cli.DurationFlag{Name: "email-verification-ttl", Value: def.EmailVerificationTTL, Destination: &c.EmailVerificationTTL, Sources: c.env(false, "LATCHKEY_EMAIL_VERIFICATION_TTL"),
			Usage: "life of address-verification links"},
		&cli.DurationFlag{Name: "ticket-ttl", Value: def.TicketTTL, Destination: &c.TicketTTL, Sources: c.env(false, "LATCHKEY_TICKET_TTL"),
			Usage: "life of password-reset, sign-in and address-change links"},
		&cli.DurationFlag{Name: "otp-ttl", Value: def.OTPTTL, Destination: &c.OTPTTL, Sources: c.env(false, "LATCHKEY_OTP_TTL"),
			Usage: "life of one-time sign-in codes"},
		&cli.Int64Flag{Name: "code-max-attempts", Value: int64(def.CodeMaxAttempts), Destination: &c.CodeMaxAttempts, Sources: c.env(false, "LATCHKEY_CODE_MAX_ATTEMPTS"),
			Usage: "wrong tries a mailed code survives"},
	)
}

// validateMail checks the mail settings.
func (c *config) validateMail(serve bool) error {
	var errs []error
	bad := func(name, env, why string) { errs = append(errs, fmt.Errorf("%s / %s %s", name, env, why)) }
	if c.SMTPHost != "" {
		if c.SMTPPort < 1 || c.SMTPPort > 65535 {
			bad("smtp-port", "LATCHKEY_SMTP_PORT", "must be between 1 and 65535")
		}
		if !slices.Contains([]string{string(lkmail.TLSNone), string(lkmail.TLSStartTLS), string(lkmail.TLSImplicit)}, c.SMTPTLS) {
			bad("smtp-tls", "LATCHKEY_SMTP_TLS", "must be none, starttls or tls")
		}
		if c.SMTPFrom == "" {
			bad("smtp-from", "LATCHKEY_SMTP_FROM", "is required when an SMTP host is set")
		} else if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			bad("smtp-from", "LATCHKEY_SMTP_FROM", "is not a mail address")
		}
		if c.SMTPTimeout < time.Second {
			bad("smtp-timeout", "LATCHKEY_SMTP_TIMEOUT", "must be at least 1s")
		}
	}
	if !serve {
		return errors.Join(errs...)
	}
	for _, u := range []struct{ name, env, v string }{
		{"public-url", "LATCHKEY_PUBLIC_URL", c.PublicURL}, {"client-url", "LATCHKEY_CLIENT_URL", c.ClientURL},
	} {
		if u.v == "" && u.name == "public-url" {
			continue // derived from --addr
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.name, u.env, "must be an http(s) URL")
		}
	}
	for _, d := range []struct {
		name, env string
		v         time.Duration
	}{
		{"email-verification-ttl", "LATCHKEY_EMAIL_VERIFICATION_TTL", c.EmailVerificationTTL},
		{"ticket-ttl", "LATCHKEY_TICKET_TTL", c.TicketTTL},
		{"otp-ttl", "LATCHKEY_OTP_TTL", c.OTPTTL},
	} {
		if d.v < time.Minute {
			bad(d.name, d.env, "must be at least 1m")
		}
	}
	if err := server.CheckRedirectURLs(c.ClientURL, c.AllowedRedirectURLs); err != nil {
		bad("allowed-redirect-urls", "LATCHKEY_ALLOWED_REDIRECT_URLS", err.Error())
	}
	if c.CodeMaxAttempts < 1 || c.CodeMaxAttempts > 20 {
		bad("code-max-attempts", "LATCHKEY_CODE_MAX_ATTEMPTS", "must be between 1 and 20")
	}
	return errors.Join(errs...)
}

// publicURL is the configured public URL, or one derived from the listen address.
func (c *config) publicURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "http://" + c.Addr
}

// smtp builds the SMTP sender; nil when no SMTP host is configured.
func (c *config) smtp() (*lkmail.SMTP, error) {
	if c.SMTPHost == "" {
		return nil, nil
	}
	return lkmail.NewSMTP(lkmail.SMTPConfig{
		Host: c.SMTPHost, Port: int(c.SMTPPort), Username: c.SMTPUser, Password: c.SMTPPassword,
		TLS: lkmail.TLSMode(c.SMTPTLS), From: c.SMTPFrom, Timeout: c.SMTPTimeout,
	})
}

// mailDeps builds the server's mailer and templates, and checks the SMTP connection: a failure
// is logged loudly but does not stop the server, whose outbox keeps the mail until SMTP works.
func (c *config) mailDeps(ctx context.Context, defaultLocale string, log *slog.Logger) (lkmail.Sender, *lkmail.Templates, error) {
	tpl, err := lkmail.LoadTemplates(c.TemplatesDir, defaultLocale)
	if err != nil {
		return nil, nil, fmt.Errorf("mail templates: %w", err)
	}
	s, err := c.smtp()
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		log.Warn("no SMTP server configured: mail is written to the log, not sent (set LATCHKEY_SMTP_HOST)")
		return nil, tpl, nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.SMTPTimeout)
	defer cancel()
	if err := s.Check(cctx); err != nil {
		log.Error("SMTP server check failed: mail waits in the outbox until it answers", "smtp", s.String(), "error", err)
	} else {
		log.Info("SMTP server answers", "smtp", s.String())
	}
	return s, tpl, nil
}

// mailCommand is `latchkey mail`: a test message, and the operator's view of the outbox.
func mailCommand(stdout, stderr io.Writer) *cli.Command {
	testCfg, outboxCfg := &config{}, &config{}
	var to string
	var limit int64
	return &cli.Command{
		Name:  "mail",
		Usage: "check mail delivery",
		Commands: []*cli.Command{
			{
				Name:  "test",
				Usage: "send a test message through the configured SMTP server, directly (not through the outbox)",
				Flags: append(testCfg.mailFlags(false),
					&cli.StringFlag{Name: "to", Required: true, Destination: &to, Usage: "recipient address"},
					&cli.StringFlag{Name: "locale", Value: "en", Usage: "locale of the test message"}),
				Action: func(ctx context.Context, cmd *cli.Command) error {
					if err := errors.Join(testCfg.fileErrs...); err != nil {
						return fmt.Errorf("invalid configuration:\n%w", err)
					}
					if err := testCfg.validateMail(false); err != nil {
						return fmt.Errorf("invalid configuration:\n%w", err)
					}
					if _, err := mail.ParseAddress(to); err != nil {
						return fmt.Errorf("--to: %q is not a mail address", to)
					}
					s, err := testCfg.smtp()
					if err != nil {
						return err
					}
					if s == nil {
						return errors.New("no SMTP server configured: set --smtp-host / LATCHKEY_SMTP_HOST")
					}
					tpl, err := lkmail.LoadTemplates(testCfg.TemplatesDir, "en")
					if err != nil {
						return fmt.Errorf("mail templates: %w", err)
					}
					m, err := tpl.Render(lkmail.KindTest, cmd.String("locale"), lkmail.Data{AppName: testCfg.AppName, Email: to})
					if err != nil {
						return err
					}
					if err := s.Send(ctx, m); err != nil {
						return fmt.Errorf("send through %s: %w", s, err)
					}
					fmt.Fprintf(stdout, "test message sent to %s through %s\n", to, s)
					return nil
				},
			},
			{
				Name:  "outbox",
				Usage: "list mail that has not been delivered (waiting or given up), newest first, with its last error",
				Flags: append(outboxCfg.storeFlags(),
					&cli.Int64Flag{Name: "limit", Value: 50, Destination: &limit, Usage: "most messages to list"}),
				Action: func(ctx context.Context, _ *cli.Command) error {
					return withStore(ctx, outboxCfg, stderr, func(st *store.Store, _ *slog.Logger) error {
						ms, err := st.UndeliveredMail(ctx, int(limit))
						if err != nil {
							return err
						}
						return writeOutbox(stdout, ms)
					})
				},
			},
		},
	}
}

// writeOutbox prints undelivered mail as a table.
func writeOutbox(w io.Writer, ms []store.OutboxMail) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tTO\tQUEUED\tATTEMPTS\tSTATE\tLAST ERROR")
	for _, m := range ms {
		state := "waiting, next " + m.NextAttemptAt.UTC().Format(time.RFC3339)
		if m.FailedAt != nil {
			state = "given up " + m.FailedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Kind, m.Recipient,
			m.CreatedAt.UTC().Format(time.RFC3339), m.Attempts, state, m.LastError)
	}
	return tw.Flush()
}
