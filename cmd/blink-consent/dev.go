package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Demo users the dev command creates; their sign-in is printed.
const (
	demoEmail = "demo@blink.sv"
	demoPhone = "+50370000000"
)

func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	port := fs.Int("port", 3000, "port of this service")
	healthPort := fs.Int("health-port", 9090, "port of the health listener")
	hydraPublic := fs.Int("hydra-public-port", 4444, "port of Hydra's public API")
	hydraAdmin := fs.Int("hydra-admin-port", 4445, "port of Hydra's admin API")
	demoPort := fs.Int("demo-port", 5555, "port of the demo relying party")
	if help, err := parseFlags(fs, args, stdout, `Usage: blink-consent dev [flags]

Starts a throwaway PostgreSQL cluster, Ory Hydra `+devstack.HydraVersion+` (built on first use), two demo
OAuth clients, this service in DEV_MODE and a demo relying party, all on 127.0.0.1,
then prints the URL to open. Ctrl-C stops everything and deletes the cluster.`); help || err != nil {
		return err
	}
	for name, p := range map[string]int{"--port": *port, "--health-port": *healthPort, "--hydra-public-port": *hydraPublic, "--hydra-admin-port": *hydraAdmin, "--demo-port": *demoPort} {
		if err := portFree(p); err != nil {
			return fmt.Errorf("dev: %s %d is taken (%v); stop what uses it or pick another port", name, p, err)
		}
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "dev: "+format+"\n", a...) }

	hydraBin, err := devstack.HydraBinary(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "blink-consent-dev-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	say("starting PostgreSQL…")
	pg, err := devstack.StartPostgres(ctx, dir, 0)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer pg.Stop()

	demoURL := "http://127.0.0.1:" + strconv.Itoa(*demoPort)
	say("starting blink-consent and Hydra %s…", devstack.HydraVersion)
	st, err := startStack(ctx, pg, stackOptions{
		Name: "blink_consent", ServicePort: *port, HealthPort: *healthPort,
		HydraPublicPort: *hydraPublic, HydraAdminPort: *hydraAdmin,
		PostLogoutURL: demoURL + "/", HydraBinary: hydraBin, Dir: dir,
		Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer st.Stop()

	db, err := store.Open(ctx, st.DatabaseURL)
	if err != nil {
		return err
	}
	user, err := db.CreateUser(ctx, store.NewUser{Email: demoEmail, EmailVerified: true, Phone: demoPhone, PhoneVerified: true})
	db.Close()
	if err != nil {
		return err
	}

	rp := &devstack.DemoRP{HydraPublicURL: st.Hydra.PublicURL}
	for _, spec := range []devstack.ClientSpec{
		{Name: "Blink Dashboard (demo, first-party)", RedirectURI: demoURL + "/callback",
			Scopes: []string{"openid", "offline", "read", "write"}, SkipConsent: true, SkipLogoutConsent: true},
		{Name: "Demo Third-Party App", RedirectURI: demoURL + "/callback",
			Scopes:    []string{"openid", "offline", "email", "phone", "read", "receive"},
			ClientURI: demoURL + "/", PolicyURI: demoURL + "/privacy", TosURI: demoURL + "/terms"},
	} {
		c, err := devstack.CreateClient(ctx, st.Hydra.AdminURL, spec)
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		rp.Clients = append(rp.Clients, c)
	}
	demoSrv := &http.Server{Addr: "127.0.0.1:" + strconv.Itoa(*demoPort), Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	demoErr := make(chan error, 1)
	go func() { demoErr <- demoSrv.ListenAndServe() }()
	defer demoSrv.Close()

	fmt.Fprintf(stdout, `
  blink-consent is running (DEV_MODE).

  Try a sign-in:   %s/
  Sign in as:      %s or %s (user id %s), or any new phone number
  Your codes:      %s/dev/messages  (no mail or SMS leaves this machine)

  This service:    %s      health: %s/readyz
  Hydra public:    %s      admin:  %s
  Clients:         %s  %s (skip_consent)
                   %s  %s

  Two-step sign-in for the demo user (scan the QR code with an authenticator app):
    DATABASE_URL='%s' SECRET_KEY=%s \
      bin/blink-consent users totp enroll --user %s

  Ctrl-C stops everything.

`, demoURL, demoEmail, demoPhone, user.ID, st.ServiceURL, st.ServiceURL, st.HealthURL, st.Hydra.PublicURL, st.Hydra.AdminURL,
		rp.Clients[0].ID, rp.Clients[0].Name, rp.Clients[1].ID, rp.Clients[1].Name,
		st.DatabaseURL, st.env["SECRET_KEY"], user.ID)

	select {
	case <-ctx.Done():
		say("stopping…")
		return nil
	case <-st.done:
		return fmt.Errorf("dev: the service stopped: %v", st.err)
	case err := <-demoErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("dev: the demo app stopped: %w", err)
	}
}

func portFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return l.Close()
}
