//go:build devstack

package main

import (
	"context"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Demo users the dev command creates; their sign-in is printed.
const (
	demoEmail = "demo@blink.sv"
	demoPhone = "+50370000000"
	// demoTOTPEmail is, with --identity blink, a core account with an authenticator.
	demoTOTPEmail = "demo-2fa@blink.sv"
)

func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	port := fs.Int("port", 3000, "port of this service")
	healthPort := fs.Int("health-port", 9090, "port of the health listener")
	hydraPublic := fs.Int("hydra-public-port", 4444, "port of Hydra's public API")
	hydraAdmin := fs.Int("hydra-admin-port", 4445, "port of Hydra's admin API")
	demoPort := fs.Int("demo-port", 5555, "port of the demo relying party")
	identity := fs.String("identity", config.IdentityPostgres, "where accounts live: postgres (our users table) or blink (a stand-in of Blink core)")
	corePort := fs.Int("core-port", 0, "port of the Blink core stand-in with --identity blink (0: any free port)")
	if help, err := parseFlags(fs, args, stdout, `Usage: blink-consent dev [flags]

Starts a throwaway PostgreSQL cluster, Ory Hydra `+devstack.HydraVersion+` (built on first use), two demo
OAuth clients and the /account page's own client, this service in DEV_MODE and a demo relying party, all on 127.0.0.1,
then prints the URL to open. Ctrl-C stops everything and deletes the cluster.

With --identity blink, accounts live in an in-memory stand-in of Blink core
(IDENTITY_SOURCE=blink), as when this service replaces Blink's apps/consent;
the codes core would send are listed on /dev/messages all the same.`); help || err != nil {
		return err
	}
	blink := *identity == config.IdentityBlink
	if !blink && *identity != config.IdentityPostgres {
		return fmt.Errorf("dev: --identity must be postgres or blink, not %q", *identity)
	}
	ports := map[string]int{"--port": *port, "--health-port": *healthPort, "--hydra-public-port": *hydraPublic, "--hydra-admin-port": *hydraAdmin, "--demo-port": *demoPort}
	if blink && *corePort != 0 {
		ports["--core-port"] = *corePort
	}
	for name, p := range ports {
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

	var core *corestandin.Standin
	env := map[string]string{}
	if blink {
		say("starting a stand-in of Blink core…")
		if core, err = corestandin.Start("127.0.0.1:" + strconv.Itoa(*corePort)); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		defer core.Close()
		// A new random code per send, as core with a real SMS provider, and
		// only the answer the stand-in's Geetest gives passes, as with Geetest.
		core.SetPhoneCode("")
		core.RequireGeetestAnswer(true)
		env = map[string]string{
			"IDENTITY_SOURCE":    config.IdentityBlink,
			"CORE_AUTH_URL":      core.AuthURL(),
			"GRAPHQL_ENDPOINT":   core.GraphQLURL(),
			"GEETEST_SCRIPT_URL": core.GeetestScriptURL(),
			// Its Telegram "confirms" as soon as Telegram is opened.
			"TELEGRAM_PASSPORT_SCRIPT_URL": core.TelegramScriptURL(),
		}
	}

	// The abuse limits: RATE_* from the environment, else generous ones, so
	// someone trying things is not locked out for days (production's per
	// phone limit is a day's worth). With --identity blink ours stay off
	// unless set, as in production: the stand-in of core keeps its own.
	limits := devLimits(getenv, blink)
	for _, l := range limits {
		env[l.name] = l.value
	}

	// Traces go to the developer's collector when OTEL_EXPORTER_OTLP_ENDPOINT says where.
	for _, k := range config.TracingVariables {
		if v := getenv(k); v != "" {
			env[k] = v
		}
	}

	demoURL := "http://127.0.0.1:" + strconv.Itoa(*demoPort)
	say("starting blink-consent and Hydra %s…", devstack.HydraVersion)
	st, err := startStack(ctx, pg, stackOptions{
		Name: "blink_consent", ServicePort: *port, HealthPort: *healthPort,
		HydraPublicPort: *hydraPublic, HydraAdminPort: *hydraAdmin,
		PostLogoutURL: demoURL + "/", HydraBinary: hydraBin, Dir: dir,
		Stdout: stdout, Stderr: stderr, Env: env, Account: true,
		// localhost, not 127.0.0.1: passkeys need a domain (browsers refuse
		// an IP address as the relying party id), and localhost is one a
		// browser treats as secure over http.
		Host: "localhost",
	})
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer st.Stop()

	db, err := store.Open(ctx, st.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// signIn goes above the addresses, twoStep below them.
	var signIn, twoStep string
	if blink {
		if signIn, err = blinkDemo(core, db, st.env); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
	} else {
		user, err := db.CreateUser(ctx, store.NewUser{Email: demoEmail, EmailVerified: true, Phone: demoPhone, PhoneVerified: true})
		if err != nil {
			return err
		}
		signIn = fmt.Sprintf(`  Sign in as:      %s or %s (user id %s), or any new phone number
  Your codes:      %s/dev/messages  (no mail or SMS leaves this machine)
`, demoEmail, demoPhone, user.ID, st.ServiceURL)
		twoStep = fmt.Sprintf(`
  Two-step sign-in for the demo user (scan the QR code with an authenticator app):
    DATABASE_URL='%s' SECRET_KEY=%s \
      bin/blink-consent-dev users totp enroll --user %s
`, st.DatabaseURL, st.env["SECRET_KEY"], user.ID)
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

	mode := "DEV_MODE"
	if blink {
		mode = "DEV_MODE, IDENTITY_SOURCE=blink"
	}
	fmt.Fprintf(stdout, `
  blink-consent is running (%s).

  Try a sign-in:   %s/
%s  Your account:    %s/account  (connected apps, two-step sign-in, passkeys, recent activity)
  Limits:          %s
                   (set RATE_SEND_EMAIL, RATE_SEND_PHONE, RATE_SEND_IP, RATE_FAIL_IDENTIFIER
                   or RATE_FAIL_IP to try others: N/duration or off)

  This service:    %s      health: %s/readyz
  Hydra public:    %s      admin:  %s
  Clients:         %s  %s (skip_consent)
                   %s  %s
                   %s  %s (skip_consent)
%s
  Ctrl-C stops everything.

`, mode, demoURL, signIn, st.ServiceURL, describeLimits(limits), st.ServiceURL, st.HealthURL, st.Hydra.PublicURL, st.Hydra.AdminURL,
		rp.Clients[0].ID, rp.Clients[0].Name, rp.Clients[1].ID, rp.Clients[1].Name, st.Account.ID, st.Account.Name, twoStep)

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

// blinkDemo adds the demo accounts to the core stand-in, lists the messages
// core would send on /dev/messages, and says how to sign in.
func blinkDemo(core *corestandin.Standin, db *store.Store, env map[string]string) (string, error) {
	current, previous, err := config.SecretKeys(func(k string) string { return env[k] })
	if err != nil {
		return "", err
	}
	core.SetOnMessage(queueCoreMessages(db, secret.NewKeys(current, previous...)))
	demo := core.AddIdentity(demoEmail, demoPhone)
	twoStep := core.AddIdentity(demoTOTPEmail, "")
	key := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(core.EnrolTOTP(twoStep))
	return fmt.Sprintf(`  Sign in as:      %s or %s (Blink account %s), or any new phone
                   number (core makes it a new account; the captcha passes by itself)
  Your codes:      %s/dev/messages  (what core would send; nothing leaves this machine)
  Two-step:        %s, then a code of the authenticator key
                   %s (type it into an authenticator app)
  Blink core:      %s  (a stand-in; its accounts live in memory until Ctrl-C)
`, demoEmail, demoPhone, demo, env["PUBLIC_URL"], demoTOTPEmail, key, core.URL()), nil
}

// queueCoreMessages is the stand-in's message hook: it puts each message core
// would have sent into the service's outbox, sealed with the service's keys as
// its own codes are. In DEV_MODE the outbox worker hands it to the
// development logger, so /dev/messages lists it like any other.
func queueCoreMessages(db *store.Store, keys secret.Keys) func(channel, to, text string) {
	return func(channel, to, text string) {
		m, err := delivery.Seal(keys, delivery.Envelope{Channel: channel, To: to, Text: text}, time.Now().Add(corestandin.EmailCodeLifetime))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = db.QueueMessage(ctx, *m)
			cancel()
		}
		if err != nil {
			slog.Warn("dev: a message of the core stand-in could not be listed on /dev/messages", "err", err)
		}
	}
}

// devLimit is one RATE_* setting of the dev stack and its value.
type devLimit struct{ name, value, what string }

// devLimits are the dev stack's abuse limits: each RATE_* variable set in
// the environment as given, else a limit generous enough to play with (a
// few dozen codes an hour) — or, with Blink core's stand-in, off, as in
// production with IDENTITY_SOURCE=blink.
func devLimits(getenv func(string) string, blink bool) []devLimit {
	limits := []devLimit{
		{"RATE_SEND_EMAIL", "30/1h", "codes per email"},
		{"RATE_SEND_PHONE", "30/1h", "per phone"},
		{"RATE_SEND_IP", "100/1h", "per IP"},
		{"RATE_FAIL_IDENTIFIER", "30/1h", "wrong codes per email or phone"},
		{"RATE_FAIL_IP", "100/1h", "per IP"},
	}
	for i, l := range limits {
		switch v := getenv(l.name); {
		case v != "":
			limits[i].value = v
		case blink:
			limits[i].value = config.LimitOff
		}
	}
	return limits
}

// describeLimits says the limits in one line, e.g. "codes per email 30/1h, per phone 30/1h, …".
func describeLimits(limits []devLimit) string {
	parts := make([]string, len(limits))
	for i, l := range limits {
		parts[i] = l.what + " " + l.value
	}
	return strings.Join(parts[:3], ", ") + ";\n                   " + strings.Join(parts[3:], ", ")
}

func portFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return l.Close()
}
