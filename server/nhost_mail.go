package server

import (
	"context"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/store"
)

// SendVerificationEmail implements POST /v1/user/email/send-verification-email (Nhost).
func (s *Server) SendVerificationEmail(ctx context.Context, req gen.SendVerificationEmailRequestObject) (gen.SendVerificationEmailResponseObject, error) {
	ctx = withCodeChallenge(ctx, req.Body.CodeChallenge)
	if err := s.sendVerificationEmail(ctx, string(req.Body.Email), redirectOption(req.Body.Options)); err != nil {
		return nil, err
	}
	return gen.SendVerificationEmail200JSONResponse(gen.OKResponseOK), nil
}

// SendPasswordResetEmail implements POST /v1/user/password/reset (Nhost).
func (s *Server) SendPasswordResetEmail(ctx context.Context, req gen.SendPasswordResetEmailRequestObject) (gen.SendPasswordResetEmailResponseObject, error) {
	ctx = withCodeChallenge(ctx, req.Body.CodeChallenge)
	if err := s.requestPasswordReset(ctx, string(req.Body.Email), redirectOption(req.Body.Options)); err != nil {
		return nil, err
	}
	return gen.SendPasswordResetEmail200JSONResponse(gen.OKResponseOK), nil
}

// ChangeUserEmail implements POST /v1/user/email/change (Nhost).
func (s *Server) ChangeUserEmail(ctx context.Context, req gen.ChangeUserEmailRequestObject) (gen.ChangeUserEmailResponseObject, error) {
	p, err := requirePrincipal(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireElevated(ctx, p); err != nil {
		return nil, err
	}
	ctx = withCodeChallenge(ctx, req.Body.CodeChallenge)
	if err := s.requestEmailChange(ctx, p, string(req.Body.NewEmail), redirectOption(req.Body.Options), nil); err != nil {
		return nil, err
	}
	return gen.ChangeUserEmail200JSONResponse(gen.OKResponseOK), nil
}

// SignInPasswordlessEmail implements POST /v1/signin/passwordless/email (Nhost).
func (s *Server) SignInPasswordlessEmail(ctx context.Context, req gen.SignInPasswordlessEmailRequestObject) (gen.SignInPasswordlessEmailResponseObject, error) {
	ctx = withCodeChallenge(ctx, req.Body.CodeChallenge)
	if err := s.mailSignIn(ctx, store.TicketSignInPasswordless, string(req.Body.Email), profileFromNhost(req.Body.Options)); err != nil {
		return nil, err
	}
	return gen.SignInPasswordlessEmail200JSONResponse(gen.OKResponseOK), nil
}

// SignInOTPEmail implements POST /v1/signin/otp/email (Nhost).
func (s *Server) SignInOTPEmail(ctx context.Context, req gen.SignInOTPEmailRequestObject) (gen.SignInOTPEmailResponseObject, error) {
	if err := s.mailSignIn(ctx, store.TicketSignInOTP, string(req.Body.Email), profileFromNhost(req.Body.Options)); err != nil {
		return nil, err
	}
	return gen.SignInOTPEmail200JSONResponse(gen.OKResponseOK), nil
}

// VerifySignInOTPEmail implements POST /v1/signin/otp/email/verify (Nhost).
func (s *Server) VerifySignInOTPEmail(ctx context.Context, req gen.VerifySignInOTPEmailRequestObject) (gen.VerifySignInOTPEmailResponseObject, error) {
	res, err := s.useTicketCode(ctx, string(req.Body.Email), store.TicketSignInOTP, secret(req.Body.Otp), CodeInvalidOTP)
	if err != nil {
		return nil, err
	}
	return gen.VerifySignInOTPEmail200JSONResponse(nhostSessionPayload(res)), nil
}

// VerifyTicketCode implements POST /v1/verify/code (Latchkey's addition to the Nhost dialect).
func (s *Server) VerifyTicketCode(ctx context.Context, req gen.VerifyTicketCodeRequestObject) (gen.VerifyTicketCodeResponseObject, error) {
	res, err := s.useTicketCode(ctx, string(req.Body.Email), string(req.Body.Type), secret(req.Body.Code), CodeInvalidTicket)
	if err != nil {
		return nil, err
	}
	return gen.VerifyTicketCode200JSONResponse(nhostSessionPayload(res)), nil
}

// VerifyTicket implements GET /v1/verify (Nhost): a mailed link. When links must be confirmed,
// it only answers the confirmation page, so a mail scanner that opens links spends nothing.
func (s *Server) VerifyTicket(ctx context.Context, req gen.VerifyTicketRequestObject) (gen.VerifyTicketResponseObject, error) {
	p := req.Params
	if !s.redirects.allowed(p.RedirectTo) {
		return nil, &Error{Code: CodeRedirectNotAllowed}
	}
	if s.cfg.ConfirmLinks {
		page, err := s.confirmPage(p.Ticket, p.RedirectTo)
		if err != nil {
			return nil, err
		}
		return gen.VerifyTicket200TexthtmlResponse{Body: strings.NewReader(page), ContentLength: int64(len(page))}, nil
	}
	loc, err := s.ticketRedirect(ctx, secret(p.Ticket), p.RedirectTo)
	if err != nil {
		return nil, err
	}
	return gen.VerifyTicket302Response{Headers: gen.VerifyTicket302ResponseHeaders{Location: loc}}, nil
}

// ConfirmTicket implements POST /v1/verify: the confirmation page's button.
func (s *Server) ConfirmTicket(ctx context.Context, req gen.ConfirmTicketRequestObject) (gen.ConfirmTicketResponseObject, error) {
	if !s.redirects.allowed(req.Body.RedirectTo) {
		return nil, &Error{Code: CodeRedirectNotAllowed}
	}
	loc, err := s.ticketRedirect(ctx, secret(req.Body.Ticket), req.Body.RedirectTo)
	if err != nil {
		return nil, err
	}
	return gen.ConfirmTicket302Response{Headers: gen.ConfirmTicket302ResponseHeaders{Location: loc}}, nil
}

// ticketRedirect uses a link's ticket and returns where to send the browser: redirectTo with
// the session's refresh token and the ticket's type, or with Nhost's error and description.
func (s *Server) ticketRedirect(ctx context.Context, ticket secret, redirectTo string) (string, error) {
	sess, code, kind, err := s.useTicket(ctx, ticket)
	q := url.Values{}
	var e *Error
	switch {
	case err == nil && sess == nil:
		q.Set("code", string(code))
		q.Set("type", kind)
	case err == nil && sess.MFATicket != "":
		// A user with a second factor: the link proved the mailbox, and the application
		// finishes the sign-in with POST /v1/signin/mfa/totp. No refresh token travels.
		q.Set("mfaTicket", string(sess.MFATicket))
		q.Set("type", kind)
	case err == nil:
		q.Set("refreshToken", string(sess.RefreshToken))
		q.Set("type", kind)
	case errors.As(err, &e):
		ne := s.nhostError(e.Code)
		q.Set("error", string(ne.code))
		q.Set("errorDescription", ne.message)
	default:
		return "", err
	}
	u, err := url.Parse(redirectTo)
	if err != nil {
		return "", &Error{Code: CodeRedirectNotAllowed, Err: err}
	}
	have := u.Query()
	for k, v := range q {
		have[k] = v
	}
	u.RawQuery = have.Encode()
	return u.String(), nil
}

var confirmPageTemplate = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>{{.App}}: continue</title></head>
<body style="font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;text-align:center">
<h1 style="font-size:1.4rem">{{.App}}</h1>
<p>Press the button to continue. This link works once.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="ticket" value="{{.Ticket}}">
<input type="hidden" name="redirectTo" value="{{.RedirectTo}}">
<button type="submit" style="font-size:1rem;padding:.7rem 1.6rem;cursor:pointer">Continue</button>
</form></body></html>
`))

// confirmPage is the page a confirmed link opens: one button that posts the ticket.
func (s *Server) confirmPage(ticket, redirectTo string) (string, error) {
	var b strings.Builder
	err := confirmPageTemplate.Execute(&b, map[string]string{
		"App": s.cfg.AppName, "Action": s.cfg.PublicURL + "/v1/verify", "Ticket": ticket, "RedirectTo": redirectTo,
	})
	return b.String(), err
}

// redirectOption reads Nhost's optional options.redirectTo.
func redirectOption(o *gen.OptionsRedirectTo) *string {
	if o == nil {
		return nil
	}
	return o.RedirectTo
}
