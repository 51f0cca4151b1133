//go:build devstack

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// stackOptions says where a local stack listens; 0 ports are picked free.
type stackOptions struct {
	Name            string // database name prefix
	ServicePort     int
	HealthPort      int
	HydraPublicPort int
	HydraAdminPort  int
	PostLogoutURL   string
	RequestTTL      time.Duration
	HydraBinary     string
	Dir             string
	Stdout, Stderr  io.Writer
	// Env adds to or overrides the service's environment.
	Env map[string]string
	// HydraPostgres, when set, holds Hydra's database instead of the service's cluster.
	HydraPostgres *devstack.Postgres
	// Account registers the /account page's client in Hydra and turns the page on.
	Account bool
	// Host is the service's host in PUBLIC_URL (default 127.0.0.1; it
	// listens on 127.0.0.1 either way). A browser test of passkeys needs
	// "localhost": browsers refuse an IP address as the relying party id.
	Host string
}

// stack is this service and a Hydra wired to it, on one PostgreSQL cluster.
type stack struct {
	ServiceURL  string
	HealthURL   string
	DatabaseURL string
	Hydra       *devstack.Hydra
	done        chan struct{} // closed when the service has stopped
	err         error         // why it stopped; read after done
	cancel      context.CancelFunc
	env         map[string]string
	// Account is the /account page's client when stackOptions.Account was set.
	Account devstack.OAuthClient
}

// startStack creates the two databases, migrates ours, starts this service in
// process (through run, as in production) and a Hydra pointed at it.
func startStack(ctx context.Context, pg *devstack.Postgres, o stackOptions) (*stack, error) {
	ports := []*int{&o.ServicePort, &o.HealthPort, &o.HydraPublicPort, &o.HydraAdminPort}
	for _, p := range ports {
		if *p == 0 {
			free, err := devstack.FreePort()
			if err != nil {
				return nil, err
			}
			*p = free
		}
	}
	appDB, err := pg.CreateDatabase(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	hydraPG := pg
	if o.HydraPostgres != nil {
		hydraPG = o.HydraPostgres
	}
	hydraDB, err := hydraPG.CreateDatabase(ctx, o.Name+"_hydra")
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, appDB)
	if err != nil {
		return nil, err
	}
	_, err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return nil, err
	}

	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	s := &stack{
		ServiceURL:  "http://" + o.Host + ":" + strconv.Itoa(o.ServicePort),
		HealthURL:   "http://127.0.0.1:" + strconv.Itoa(o.HealthPort),
		DatabaseURL: appDB,
		done:        make(chan struct{}),
	}
	env := map[string]string{
		"DATABASE_URL":    appDB,
		"HYDRA_ADMIN_URL": "http://127.0.0.1:" + strconv.Itoa(o.HydraAdminPort),
		"PUBLIC_URL":      s.ServiceURL,
		"LISTEN_ADDR":     "127.0.0.1:" + strconv.Itoa(o.ServicePort),
		"METRICS_ADDR":    "127.0.0.1:" + strconv.Itoa(o.HealthPort),
		"SECRET_KEY":      randomHex(32),
		"DEV_MODE":        "true",
		"LOG_FORMAT":      "text",
		// Tests stop many stacks; the SIGTERM test sets its own delay.
		"SHUTDOWN_DELAY": "0",
	}
	for k, v := range o.Env {
		env[k] = v
	}
	// Hydra first: the account page's client must exist before the service
	// starts with its id. Hydra calls the service only once a browser comes.
	s.Hydra, err = devstack.StartHydra(ctx, devstack.HydraConfig{
		Binary:        o.HydraBinary,
		Dir:           o.Dir,
		DSN:           hydraDB,
		PublicPort:    o.HydraPublicPort,
		AdminPort:     o.HydraAdminPort,
		ProviderURL:   env["PUBLIC_URL"], // the service's own address unless a test puts a proxy in front
		PostLogoutURL: o.PostLogoutURL,
		RequestTTL:    o.RequestTTL,
		Secret:        randomHex(24),
	})
	if err != nil {
		return nil, err
	}
	if o.Account {
		s.Account, err = devstack.CreateClient(ctx, s.Hydra.AdminURL, devstack.AccountClientSpec(env["PUBLIC_URL"]))
		if err != nil {
			s.Hydra.Stop()
			return nil, err
		}
		env["ACCOUNT_CLIENT_ID"], env["ACCOUNT_CLIENT_SECRET"], env["HYDRA_PUBLIC_URL"] = s.Account.ID, s.Account.Secret, s.Hydra.PublicURL
	}
	if env["ACCOUNT_CLIENT_ID"] != "" && env["HYDRA_PUBLIC_URL"] == "" {
		// A test that registers the account client itself (blink mode's
		// token tests) needs Hydra's address, known only now.
		env["HYDRA_PUBLIC_URL"] = s.Hydra.PublicURL
	}
	s.env = env
	serveCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go func() {
		s.err = run(serveCtx, []string{"blink-consent", "serve"}, func(k string) string { return env[k] }, o.Stdout, o.Stderr)
		close(s.done)
	}()
	if err := waitHealthy(ctx, s.HealthURL+"/healthz", s); err != nil {
		cancel()
		s.Hydra.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends Hydra and the service, waiting for the service's graceful shutdown.
func (s *stack) Stop() error {
	s.Hydra.Stop()
	s.cancel()
	<-s.done
	return s.err
}

func waitHealthy(ctx context.Context, url string, s *stack) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			err := s.err
			if err == nil {
				err = errors.New("it stopped")
			}
			return fmt.Errorf("the service did not start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("the service was not healthy at %s within 30s", url)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Replica starts a second instance of the service on the same database and
// Hydra, as another replica behind the load balancer would be. It stops with ctx.
func (s *stack) Replica(ctx context.Context, stdout, stderr io.Writer) (string, error) {
	port, err := devstack.FreePort()
	if err != nil {
		return "", err
	}
	health, err := devstack.FreePort()
	if err != nil {
		return "", err
	}
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	env["LISTEN_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	env["METRICS_ADDR"] = "127.0.0.1:" + strconv.Itoa(health)
	r := &stack{done: make(chan struct{})}
	go func() {
		r.err = run(ctx, []string{"blink-consent", "serve"}, func(k string) string { return env[k] }, stdout, stderr)
		close(r.done)
	}()
	if err := waitHealthy(ctx, "http://127.0.0.1:"+strconv.Itoa(health)+"/healthz", r); err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}
