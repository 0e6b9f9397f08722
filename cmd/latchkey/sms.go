package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/server/sms"
)

// smsConfig is phone sign-in's settings.
type smsConfig struct {
	SMSPasswordless     bool
	SMSProvider         string
	SMSTwilioSID        string
	SMSTwilioToken      string
	SMSTwilioService    string
	SMSTwilioFrom       string
	SMSTwilioBaseURL    string
	SMSDefaultRegion    string
	SMSOTPTTL           time.Duration
	SMSMaxPerNumberHour int64
	SMSMaxPerNumberDay  int64
	SMSMaxPerAddress    string
	SMSMaxPerHour       int64
	SMSAllowedCountries string
	SMSDeniedTypes      string
	SMSTemplatesDir     string
}

// smsFlags are the SMS provider's settings and, for serve, those of SMS sign-in and its limits.
func (c *config) smsFlags(serve bool) []cli.Flag {
	def := server.DefaultSMSConfig()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "sms-provider", Value: def.Provider, Destination: &c.SMSProvider, Sources: c.env(false, "LATCHKEY_SMS_PROVIDER"),
			Usage: "who sends texts: twilio, or log (development: the text, code included, is written to the log)"},
		&cli.StringFlag{Name: "sms-twilio-account-sid", Destination: &c.SMSTwilioSID, Sources: c.env(false, "LATCHKEY_SMS_TWILIO_ACCOUNT_SID"),
			Usage: "Twilio account SID (AC…)"},
		&cli.StringFlag{Name: "sms-twilio-auth-token", Destination: &c.SMSTwilioToken, Sources: c.env(true, "LATCHKEY_SMS_TWILIO_AUTH_TOKEN"),
			Usage: "Twilio auth token"},
		&cli.StringFlag{Name: "sms-twilio-messaging-service-id", Destination: &c.SMSTwilioService, Sources: c.env(false, "LATCHKEY_SMS_TWILIO_MESSAGING_SERVICE_ID"),
			Usage: "Twilio messaging service SID (MG…) texts are sent through; or set sms-twilio-from"},
		&cli.StringFlag{Name: "sms-twilio-from", Destination: &c.SMSTwilioFrom, Sources: c.env(false, "LATCHKEY_SMS_TWILIO_FROM"),
			Usage: "Twilio number (E.164) or alphanumeric sender texts come from, when no messaging service is set"},
		&cli.StringFlag{Name: "sms-twilio-base-url", Value: sms.DefaultTwilioBaseURL, Destination: &c.SMSTwilioBaseURL, Sources: c.env(false, "LATCHKEY_SMS_TWILIO_BASE_URL"),
			Usage: "base URL of Twilio's REST API (a regional edge, or a stand-in for tests)"},
		&cli.StringFlag{Name: "sms-default-region", Destination: &c.SMSDefaultRegion, Sources: c.env(false, "LATCHKEY_SMS_DEFAULT_REGION"),
			Usage: "ISO 3166 region (DE, GB, US…) that phone numbers given without + are read in; empty: only international numbers"},
		&cli.StringFlag{Name: "sms-templates-dir", Destination: &c.SMSTemplatesDir, Sources: c.env(false, "LATCHKEY_SMS_TEMPLATES_DIR"),
			Usage: "directory of text templates (<locale>/<kind>.txt: signin-code, test) that replace the built-in ones"},
	}
	if !serve {
		return flags
	}
	return append(flags,
		&cli.BoolFlag{Name: "sms-passwordless-enabled", Destination: &c.SMSPasswordless, Sources: c.env(false, "LATCHKEY_SMS_PASSWORDLESS_ENABLED"),
			Usage: "sign-in by a code texted to a phone number (/v1/signin/passwordless/sms)"},
		&cli.DurationFlag{Name: "sms-otp-ttl", Value: def.OTPTTL, Destination: &c.SMSOTPTTL, Sources: c.env(false, "LATCHKEY_SMS_OTP_TTL"),
			Usage: "life of a texted sign-in code; wrong tries are bounded by code-max-attempts"},
		&cli.Int64Flag{Name: "sms-max-per-number-hour", Value: int64(def.MaxPerNumberHour), Destination: &c.SMSMaxPerNumberHour, Sources: c.env(false, "LATCHKEY_SMS_MAX_PER_NUMBER_HOUR"),
			Usage: "texts to one number per clock hour; -1: no limit"},
		&cli.Int64Flag{Name: "sms-max-per-number-day", Value: int64(def.MaxPerNumberDay), Destination: &c.SMSMaxPerNumberDay, Sources: c.env(false, "LATCHKEY_SMS_MAX_PER_NUMBER_DAY"),
			Usage: "texts to one number per day (UTC); -1: no limit"},
		&cli.StringFlag{Name: "sms-max-per-address", Value: def.MaxPerAddress.String(), Destination: &c.SMSMaxPerAddress, Sources: c.env(false, "LATCHKEY_SMS_MAX_PER_ADDRESS"),
			Usage: "texts one client address may ask for: N/window (10/1h), or off"},
		&cli.Int64Flag{Name: "sms-max-per-hour", Value: int64(def.MaxPerHour), Destination: &c.SMSMaxPerHour, Sources: c.env(false, "LATCHKEY_SMS_MAX_PER_HOUR"),
			Usage: "texts in all per clock hour, every instance together: past it every text request is refused (429) and the refusal logged as an error, the brake on SMS pumping; -1: no limit"},
		&cli.StringFlag{Name: "sms-allowed-countries", Destination: &c.SMSAllowedCountries, Sources: c.env(false, "LATCHKEY_SMS_ALLOWED_COUNTRIES"),
			Usage: "country calling codes texts may go to (comma-separated, e.g. 49,44,1); empty: all"},
		&cli.StringFlag{Name: "sms-denied-number-types", Value: sms.DefaultDeniedTypes, Destination: &c.SMSDeniedTypes, Sources: c.env(false, "LATCHKEY_SMS_DENIED_NUMBER_TYPES"),
			Usage: "number types never texted (comma-separated): premium-rate, shared-cost, voip, uan, personal-number…; only mobile numbers are texted in any case"},
	)
}

// smsServer is the server's SMS configuration; without serve, only the provider's settings.
func (c *config) smsServer(serve bool) (server.SMSConfig, error) {
	var errs []error
	bad := func(name, env, why string) { errs = append(errs, fmt.Errorf("%s / %s %s", name, env, why)) }
	out := server.DefaultSMSConfig()
	out.Provider = c.SMSProvider
	out.DefaultRegion = c.SMSDefaultRegion
	out.TemplatesDir = c.SMSTemplatesDir
	if _, err := sms.LoadTemplates(c.SMSTemplatesDir, "en"); err != nil {
		bad("sms-templates-dir", "LATCHKEY_SMS_TEMPLATES_DIR", err.Error())
	}
	out.Twilio = sms.TwilioConfig{BaseURL: c.SMSTwilioBaseURL, AccountSID: c.SMSTwilioSID, AuthToken: c.SMSTwilioToken,
		MessagingServiceID: c.SMSTwilioService, From: c.SMSTwilioFrom}
	switch c.SMSProvider {
	case server.SMSProviderLog:
	case server.SMSProviderTwilio:
		if _, err := sms.NewTwilio(out.Twilio); err != nil {
			bad("sms-twilio-*", "LATCHKEY_SMS_TWILIO_*", err.Error())
		}
	default:
		bad("sms-provider", "LATCHKEY_SMS_PROVIDER", "must be twilio or log")
	}
	if c.SMSDefaultRegion != "" {
		if !sms.KnownRegion(c.SMSDefaultRegion) {
			bad("sms-default-region", "LATCHKEY_SMS_DEFAULT_REGION", "is not an ISO 3166 region phone numbers are known for")
		}
	}
	if !serve {
		return out, errors.Join(errs...)
	}
	out.PasswordlessEnabled = c.SMSPasswordless
	out.OTPTTL = c.SMSOTPTTL
	if c.SMSOTPTTL < time.Minute || c.SMSOTPTTL > time.Hour {
		bad("sms-otp-ttl", "LATCHKEY_SMS_OTP_TTL", "must be between 1m and 1h")
	}
	out.MaxPerNumberHour, out.MaxPerNumberDay, out.MaxPerHour = int(c.SMSMaxPerNumberHour), int(c.SMSMaxPerNumberDay), int(c.SMSMaxPerHour)
	for _, n := range []struct {
		name, env string
		v         int64
	}{
		{"sms-max-per-number-hour", "LATCHKEY_SMS_MAX_PER_NUMBER_HOUR", c.SMSMaxPerNumberHour},
		{"sms-max-per-number-day", "LATCHKEY_SMS_MAX_PER_NUMBER_DAY", c.SMSMaxPerNumberDay},
		{"sms-max-per-hour", "LATCHKEY_SMS_MAX_PER_HOUR", c.SMSMaxPerHour},
	} {
		if n.v < -1 {
			bad(n.name, n.env, "must be a count, or -1 for no limit")
		}
	}
	l, err := server.ParseRateLimit(c.SMSMaxPerAddress)
	if err != nil {
		bad("sms-max-per-address", "LATCHKEY_SMS_MAX_PER_ADDRESS", "must be N/window, e.g. 10/1h, or off: "+err.Error())
	}
	out.MaxPerAddress = l
	if out.AllowedCountries, err = sms.ParseCallingCodes(c.SMSAllowedCountries); err != nil {
		bad("sms-allowed-countries", "LATCHKEY_SMS_ALLOWED_COUNTRIES", err.Error())
	}
	if out.DeniedTypes, err = sms.ParseTypes(c.SMSDeniedTypes); err != nil {
		bad("sms-denied-number-types", "LATCHKEY_SMS_DENIED_NUMBER_TYPES", err.Error())
	}
	return out, errors.Join(errs...)
}

// smsCommand is `latchkey sms`: a test text.
func smsCommand(stdout, stderr io.Writer) *cli.Command {
	cfg := &config{}
	var to, appName string
	return &cli.Command{
		Name:  "sms",
		Usage: "check SMS delivery",
		Commands: []*cli.Command{{
			Name:  "test",
			Usage: "send a test text through the configured SMS provider, directly (not through the outbox)",
			Flags: append(cfg.smsFlags(false),
				&cli.StringFlag{Name: "to", Required: true, Destination: &to, Usage: "phone number to text (E.164, or national with sms-default-region)"},
				&cli.StringFlag{Name: "app-name", Value: "Latchkey", Destination: &appName, Usage: "product name in the text"}),
			Action: func(ctx context.Context, _ *cli.Command) error {
				if err := errors.Join(cfg.fileErrs...); err != nil {
					return fmt.Errorf("invalid configuration:\n%w", err)
				}
				sc, err := cfg.smsServer(false)
				if err != nil {
					return fmt.Errorf("invalid configuration:\n%w", err)
				}
				log := slog.New(slog.NewTextHandler(stderr, nil))
				id, err := server.SendTestSMS(ctx, sc, appName, to, log)
				if err != nil {
					return fmt.Errorf("send test text: %w", err)
				}
				fmt.Fprintf(stdout, "test text sent through %s (id %q)\n", sc.Provider, id)
				return nil
			},
		}},
	}
}
