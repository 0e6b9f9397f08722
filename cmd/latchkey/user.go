package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/store"
)

// userCommand is `latchkey user`: user administration from the command line, through the same
// core as the admin API (server.CreateUser), on the database the server uses.
func userCommand(stdout, stderr io.Writer) *cli.Command {
	cfg := &config{}
	var email, passwordFile string
	var roles []string
	var temporary, verified bool
	return &cli.Command{
		Name:  "user",
		Usage: "manage users",
		Commands: []*cli.Command{{
			Name:      "create",
			Usage:     "create a user and print its id",
			UsageText: "latchkey user create --email ADDRESS [--role ROLE]... [--default-role ROLE] [--temporary-password] [--password-file PATH] [--email-verified]",
			Description: "Creates a user directly in the database (SQLite in --data-dir, or DATABASE_URL), with the\n" +
				"server's rules: the password policy, default roles and locales come from the same flags and\n" +
				"environment as `latchkey serve`. The new user's id is printed on the first line.\n\n" +
				"--role (repeatable) sets the user's roles; without it they get --default-allowed-roles.\n" +
				"--default-role must be one of them. --password-file reads the password from a file (its\n" +
				"trailing newline dropped) so it never appears in the shell history or the process list.\n" +
				"--temporary-password makes the user choose a new password before any sign-in gives them a\n" +
				"session; without --password-file a strong password is generated and printed once.\n" +
				"--email-verified records the address as verified: you vouch for it. Without it the user\n" +
				"proves it through a mailed link, and with --conceal-errors no password signs in until then.\n" +
				"The creation is recorded in the audit log with the actor \"latchkey-cli\".",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "email", Required: true, Destination: &email, Usage: "the user's address"},
				&cli.StringSliceFlag{Name: "role", Destination: &roles, Usage: "a role of the user (repeat for several)"},
				&cli.BoolFlag{Name: "temporary-password", Destination: &temporary,
					Usage: "the user must choose a new password before getting a session (one is generated without --password-file)"},
				&cli.StringFlag{Name: "password-file", Destination: &passwordFile, Usage: "file holding the user's password"},
				&cli.BoolFlag{Name: "email-verified", Destination: &verified,
					Usage: "record the address as verified (otherwise the user proves it through a mailed link)"},
			}, cfg.jobFlags()...),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				in := server.CreateUserInput{Email: email, TemporaryPassword: temporary, EmailVerified: verified}
				if len(roles) > 0 {
					in.Roles = roles
				}
				if cmd.IsSet("default-role") {
					// serve's --default-role, here the new user's: the user's roles decide whether
					// it is allowed, not the roles sign-up may grant.
					role := cfg.DefaultRole
					in.DefaultRole = &role
					if !slices.Contains(cfg.DefaultAllowedRoles, role) && len(cfg.DefaultAllowedRoles) > 0 {
						cfg.DefaultRole = cfg.DefaultAllowedRoles[0]
					}
				}
				scfg, err := cfg.serverConfig()
				if err != nil {
					return fmt.Errorf("invalid configuration:\n%w", err)
				}
				if passwordFile != "" {
					b, err := os.ReadFile(passwordFile)
					if err != nil {
						return fmt.Errorf("read password file: %w", err)
					}
					pw := strings.TrimRight(string(b), "\r\n")
					in.Password = &pw
				}
				return withStore(ctx, cfg, stderr, func(st *store.Store, log *slog.Logger) error {
					secrets, err := cfg.secretsKeyring(st, log)
					if err != nil {
						return err
					}
					srv, err := server.New(ctx, server.Deps{Store: st, Logger: log, Config: scfg, Secrets: secrets})
					if err != nil {
						return err
					}
					res, err := srv.CreateUser(ctx, in)
					if err != nil {
						return describeCreateError(err)
					}
					fmt.Fprintln(stdout, res.User.ID)
					if res.TemporaryPassword != "" {
						fmt.Fprintf(stdout, "temporary password (shown once): %s\n", res.TemporaryPassword)
					}
					return nil
				})
			},
		}},
	}
}

// describeCreateError turns a refusal of the core into a sentence for the terminal.
func describeCreateError(err error) error {
	var e *server.Error
	if !errors.As(err, &e) || e.Code == server.CodeInternal {
		return fmt.Errorf("create user: %w", err)
	}
	var parts []string
	for _, f := range e.Fields {
		parts = append(parts, strings.TrimPrefix(f.Field, "/")+" "+f.Reason)
	}
	if len(parts) == 0 {
		return fmt.Errorf("create user: %s", e.Code)
	}
	return fmt.Errorf("create user: %s: %s", e.Code, strings.Join(parts, "; "))
}
