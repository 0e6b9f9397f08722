package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTwilioBaseURL is Twilio's REST API.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// TwilioConfig is how to reach Twilio's Messages API. Either MessagingServiceID or From names
// the sender.
type TwilioConfig struct {
	BaseURL            string // DefaultTwilioBaseURL unless a test or a regional edge says otherwise
	AccountSID         string
	AuthToken          string
	MessagingServiceID string
	From               string
	Timeout            time.Duration // one request's time limit (10s)
}

// Twilio sends texts with one form POST to the Messages resource. It speaks the plain REST API
// rather than through twilio-go: one call with four fields does not need a client generated for
// the whole of Twilio's API and its dependencies.
type Twilio struct {
	cfg  TwilioConfig
	http *http.Client
}

// NewTwilio checks cfg and returns the sender.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, fmt.Errorf("twilio needs an account SID and an auth token")
	}
	if cfg.MessagingServiceID == "" && cfg.From == "" {
		return nil, fmt.Errorf("twilio needs a messaging service id or a from number")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultTwilioBaseURL
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("twilio base URL: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Twilio{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout}}, nil
}

// twilioAnswer is the part of Twilio's answer read: the message's SID, or the error.
type twilioAnswer struct {
	SID     string `json:"sid"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Send implements Sender.
func (t *Twilio) Send(ctx context.Context, m Message) (string, error) {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if t.cfg.MessagingServiceID != "" {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceID)
	} else {
		form.Set("From", t.cfg.From)
	}
	endpoint := strings.TrimRight(t.cfg.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.cfg.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	res, err := t.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("twilio: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var a twilioAnswer
	_ = json.Unmarshal(body, &a)
	if res.StatusCode/100 != 2 {
		msg := a.Message
		if msg == "" {
			msg = http.StatusText(res.StatusCode)
		}
		return "", &ProviderError{Status: res.StatusCode, Code: a.Code, Message: msg}
	}
	return a.SID, nil
}
