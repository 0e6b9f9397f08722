package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/store"
)

// newApp builds the command tree. Each command validates its settings once, before doing anything.
func newApp(stdout, stderr io.Writer) *cli.Command {
	serveCfg, migrateCfg, keysCfg := &config{}, &config{}, &config{}
	return &cli.Command{
		Name:           "latchkey",
		Usage:          "a self-hosted authentication server that speaks Nhost, WME, Zesty and Authentication Zero",
		DefaultCommand: "serve",
		Writer:         stdout,
		ErrWriter:      stderr,
		Commands: []*cli.Command{
			{
				Name:  "serve",
				Usage: "run the server (the default command)",
				Flags: serveCfg.serveFlags(),
				Action: func(ctx context.Context, _ *cli.Command) error {
					return serve(ctx, serveCfg, stderr)
				},
			},
			{
				Name:  "migrate",
				Usage: "bring the database schema up to date and exit (serve also does this at start)",
				Flags: migrateCfg.storeFlags(),
				Action: func(ctx context.Context, _ *cli.Command) error {
					return withStore(ctx, migrateCfg, stderr, func(st *store.Store, log *slog.Logger) error {
						cur, latest, err := st.SchemaVersion(ctx)
						if err != nil {
							return err
						}
						fmt.Fprintf(stdout, "schema version %d (latest %d)\n", cur, latest)
						return nil
					})
				},
			},
			{
				Name:  "keys",
				Usage: "manage access-token signing keys",
				Commands: []*cli.Command{{
					Name:  "rotate",
					Usage: "make a new signing key; every instance signs with it after its next key reload",
					Flags: append(keysCfg.storeFlags(), &cli.StringFlag{
						Name: "jwt-algorithm", Value: server.AlgES256, Destination: &keysCfg.JWTAlgorithm,
						Sources: keysCfg.env(false, "LATCHKEY_JWT_ALGORITHM"), Usage: "ES256, RS256 or EdDSA",
					}),
					Action: func(ctx context.Context, _ *cli.Command) error {
						return withStore(ctx, keysCfg, stderr, func(st *store.Store, log *slog.Logger) error {
							kid, err := server.RotateSigningKey(ctx, st, keysCfg.JWTAlgorithm)
							if err != nil {
								return err
							}
							fmt.Fprintf(stdout, "new %s signing key %s\n", keysCfg.JWTAlgorithm, kid)
							return nil
						})
					},
				}},
			},
			secretsCommand(stdout, stderr),
			mailCommand(stdout, stderr),
			smsCommand(stdout, stderr),
			userCommand(stdout, stderr),
			configReferenceCommand(stdout),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(context.Context, *cli.Command) error {
					fmt.Fprintln(stdout, buildVersion())
					return nil
				},
			},
		},
	}
}

// withStore validates the store settings, opens and migrates the database, and runs fn.
func withStore(ctx context.Context, cfg *config, logw io.Writer, fn func(*store.Store, *slog.Logger) error) error {
	if err := cfg.validateStore(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := cfg.logger(logw)
	st, err := store.Open(ctx, cfg.storeOptions(log))
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrated database", "versions", applied)
	}
	return fn(st, log)
}

// serve runs the HTTP server until ctx ends (SIGTERM, SIGINT), then shuts down within
// ShutdownTimeout: the listener closes at once (new connections are refused), in-flight
// requests finish, and the background work (mail delivery, key reloads, purges) stops, a mail
// attempt under way being finished and recorded; only then is the store closed.
func serve(ctx context.Context, cfg *config, logw io.Writer) error {
	scfg, err := cfg.serverConfig()
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return withStore(ctx, cfg, logw, func(st *store.Store, log *slog.Logger) error {
		cfg.tuneGC(scfg.PasswordHashBudget, log)
		mailer, templates, err := cfg.mailDeps(ctx, scfg.DefaultLocale, log)
		if err != nil {
			return err
		}
		counter, closeCounter, err := cfg.counter(ctx, st, log)
		if err != nil {
			return err
		}
		defer closeCounter()
		secrets, err := cfg.secretsKeyring(st, log)
		if err != nil {
			return err
		}
		srv, err := server.New(ctx, server.Deps{Store: st, Logger: log, Config: scfg, Mailer: mailer, Templates: templates, Counter: counter,
			Secrets: secrets})
		if err != nil {
			return err
		}
		// Background work stops when ctx ends, beside the drain of requests; it shares ctx's
		// cancellation but the drain waits for it below.
		bg, stopBG := context.WithCancel(ctx)
		defer stopBG()
		ranOut := make(chan struct{})
		go func() {
			defer close(ranOut)
			srv.Run(bg)
		}()

		if cfg.PprofAddr != "" {
			go servePprof(bg, cfg.PprofAddr, log)
		}

		mln, err := cfg.listenMetrics()
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			if mln != nil {
				mln.Close()
			}
			return err
		}
		if mln != nil {
			// The metrics outlive the drain below, so a scrape sees the shutdown through.
			mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
			defer stopMetrics()
			go serveMetrics(mctx, mln, srv.MetricsHandler(), log)
		}
		hs := &http.Server{
			Handler:           srv.Handler(),
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		db := "sqlite (" + cfg.DataDir + ")"
		if st.Dialect() == store.Postgres {
			db = "postgres"
		}
		log.Info("latchkey listening", "addr", ln.Addr().String(), "database", db, "version", buildVersion())

		select {
		case err := <-errc:
			stopBG()
			<-ranOut
			return err
		case <-ctx.Done():
		}
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		stopBG()
		// Shutdown closes the listener first, then waits for every request under way.
		if err := hs.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		select {
		case <-ranOut:
		case <-sctx.Done():
			return errors.New("shutdown: background work (mail delivery) still running at the shutdown timeout")
		}
		log.Info("stopped")
		return nil
	})
}

// servePprof serves net/http/pprof's profiles on their own listener, never on the API's.
func servePprof(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	log.Info("pprof listening", "addr", addr)
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("pprof", "error", err)
	}
}
