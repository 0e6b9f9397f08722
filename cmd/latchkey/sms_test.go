package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/server"
)

// TestSMSConfig: the SMS settings reach the server, and bad ones are refused by name.
func TestSMSConfig(t *testing.T) {
	if d, _, err := parseServe(t, nil); err != nil || d.SMS.PasswordlessEnabled || d.SMS.Provider != "log" || d.SMS.MaxPerHour != 100 {
		t.Fatalf("defaults: %v %+v", err, d.SMS)
	}
	t.Run("set", func(t *testing.T) {
		cfg, _, err := parseServe(t, map[string]string{
			"LATCHKEY_SMS_PASSWORDLESS_ENABLED": "true", "LATCHKEY_SMS_PROVIDER": "twilio",
			"LATCHKEY_SMS_TWILIO_ACCOUNT_SID": "AC1", "LATCHKEY_SMS_TWILIO_AUTH_TOKEN": "token", "LATCHKEY_SMS_TWILIO_FROM": "+15005550006",
			"LATCHKEY_SMS_DEFAULT_REGION": "DE", "LATCHKEY_SMS_MAX_PER_HOUR": "50", "LATCHKEY_SMS_ALLOWED_COUNTRIES": "49,+44",
			"LATCHKEY_SMS_MAX_PER_ADDRESS": "off", "LATCHKEY_SMS_OTP_TTL": "3m",
		})
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.SMS
		if !s.PasswordlessEnabled || s.Provider != "twilio" || s.Twilio.AuthToken != "token" || s.DefaultRegion != "DE" || s.MaxPerHour != 50 ||
			!slices.Equal(s.AllowedCountries, []int{49, 44}) || s.MaxPerAddress != server.RateLimitOff || s.OTPTTL != 3*time.Minute ||
			!slices.Equal(s.DeniedTypes, []string{"premium-rate", "shared-cost"}) {
			t.Fatalf("SMS config: %+v", s)
		}
	})
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown provider", map[string]string{"LATCHKEY_SMS_PROVIDER": "carrier-pigeon"}, "sms-provider"},
		{"twilio without sender", map[string]string{"LATCHKEY_SMS_PROVIDER": "twilio", "LATCHKEY_SMS_TWILIO_ACCOUNT_SID": "AC1", "LATCHKEY_SMS_TWILIO_AUTH_TOKEN": "t"}, "sms-twilio"},
		{"bad region", map[string]string{"LATCHKEY_SMS_DEFAULT_REGION": "XX"}, "sms-default-region"},
		{"bad country", map[string]string{"LATCHKEY_SMS_ALLOWED_COUNTRIES": "49,germany"}, "sms-allowed-countries"},
		{"bad number type", map[string]string{"LATCHKEY_SMS_DENIED_NUMBER_TYPES": "premium"}, "sms-denied-number-types"},
		{"short code life", map[string]string{"LATCHKEY_SMS_OTP_TTL": "10s"}, "sms-otp-ttl"},
		{"bad address limit", map[string]string{"LATCHKEY_SMS_MAX_PER_ADDRESS": "lots"}, "sms-max-per-address"},
		{"negative ceiling", map[string]string{"LATCHKEY_SMS_MAX_PER_HOUR": "-5"}, "sms-max-per-hour"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := parseServe(t, c.env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

// TestSMSTestCommand sends `latchkey sms test` to a stand-in for Twilio's Messages API.
func TestSMSTestCommand(t *testing.T) {
	var mu sync.Mutex
	var got []string
	status := http.StatusCreated
	tw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		_ = r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path+" "+user+":"+pass+" "+r.PostForm.Get("To")+" "+r.PostForm.Get("MessagingServiceSid")+" "+r.PostForm.Get("Body"))
		w.WriteHeader(status)
		if status == http.StatusCreated {
			_, _ = w.Write([]byte(`{"sid":"SM123"}`))
		} else {
			_, _ = w.Write([]byte(`{"code":21608,"message":"unverified number"}`))
		}
	}))
	defer tw.Close()
	args := []string{"latchkey", "sms", "test", "--to", "0151 23456789", "--sms-default-region", "DE", "--sms-provider", "twilio",
		"--sms-twilio-base-url", tw.URL, "--sms-twilio-account-sid", "AC9", "--sms-twilio-auth-token", "tok", "--sms-twilio-messaging-service-id", "MG1"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("sms test: %v", err)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "/2010-04-01/Accounts/AC9/Messages.json AC9:tok +4915123456789 MG1 ") ||
		!strings.Contains(out.String(), "SM123") {
		t.Fatalf("request %q; output %q", got, out.String())
	}
	status = http.StatusBadRequest
	if err := run(context.Background(), args, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "21608") {
		t.Fatalf("sms test against a refusing Twilio: %v", err)
	}
}
