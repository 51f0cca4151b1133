//go:build devstack

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// callbackURL is the clients' redirect_uri. Nothing listens there: a
// simulated browser stops when it is sent to it and takes the code.
const callbackURL = "http://127.0.0.1:1/callback"

// provider is one login and consent provider under test, with the Hydra
// pointed at it (one Hydra each, on the same PostgreSQL cluster, so both
// meet the same Hydra work) and the clients registered there.
type provider struct {
	Name       string
	URL        string // where Hydra sends the browser
	MetricsURL string // /metrics, for the service only
	Hydra      *devstack.Hydra
	Skip       devstack.OAuthClient // skip_consent: the skip path and the email path
	Consent    devstack.OAuthClient // asks for consent every time
	cmd        *exec.Cmd
	done       chan error
}

func (p *provider) PID() int { return p.cmd.Process.Pid }

func (p *provider) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.Hydra.Stop()
}

// stackConfig is what the stack needs from the command line.
type stackConfig struct {
	ServiceBin string   // bin/blink-consent
	FloorCmd   []string // the floor's program and arguments before its flags
	Users      int      // accounts to create, load-N@example.com
	Floor      bool     // start the floor too
	// Replicas, when 2 or more, runs that many processes of the service
	// behind HAProxy (the rolling mode); the provider's URL is HAProxy's.
	Replicas int
	// BalancerRetries has HAProxy retry a connection refused on the other
	// replica (retries).
	BalancerRetries bool
	// BalancerTCP balances connections, not requests (startBalancer).
	BalancerTCP bool
	Env         map[string]string
	Log         io.Writer
}

// stack is PostgreSQL, the SMTP sink, and the providers with their Hydras.
type stack struct {
	pg        *devstack.Postgres
	dir       string
	sink      *sink
	Service   *provider
	Floor     *provider
	Emails    []string
	ServiceDB string
	browsers  int
	replicas  []*replica // with Replicas ≥ 2
	balancer  *balancer
}

func (s *stack) Close() {
	if s.Service != nil {
		s.Service.stop()
	}
	if s.Floor != nil {
		s.Floor.stop()
	}
	s.balancer.stop()
	for _, r := range s.replicas {
		r.stop()
	}
	if s.sink != nil {
		s.sink.Close()
	}
	s.pg.Stop()
	os.RemoveAll(s.dir)
}

func startStack(ctx context.Context, c stackConfig) (_ *stack, err error) {
	hydraBin, err := devstack.HydraBinary(ctx, os.Getenv, c.Log)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "blink-consent-load-*")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, browsers: c.Users}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// As root PostgreSQL runs as another user: a directory of its own under the temp dir.
	pgDir, err := os.MkdirTemp("", "blink-consent-load-pg-*")
	if err != nil {
		return nil, err
	}
	if s.pg, err = devstack.StartPostgres(ctx, pgDir, 0); err != nil {
		return nil, err
	}
	if s.sink, err = startSink(); err != nil {
		return nil, err
	}
	if s.ServiceDB, err = s.pg.CreateDatabase(ctx, "blink_consent"); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, s.ServiceDB)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	for i := range c.Users {
		email := fmt.Sprintf("load-%d@example.com", i)
		if _, err := db.CreateUser(ctx, store.NewUser{Email: email, EmailVerified: true}); err != nil {
			return nil, err
		}
		s.Emails = append(s.Emails, email)
	}

	ports := make([]int, 6)
	for i := range ports {
		if ports[i], err = devstack.FreePort(); err != nil {
			return nil, err
		}
	}
	servicePort, metricsPort, floorPort := ports[0], ports[1], ports[2]
	hydraAdmin := "http://127.0.0.1:" + strconv.Itoa(ports[3])
	env := map[string]string{
		"DATABASE_URL":    s.ServiceDB,
		"HYDRA_ADMIN_URL": hydraAdmin,
		// localhost, not 127.0.0.1: passkeys need a domain (the relying
		// party id), and the passkey path signs in with them.
		"PUBLIC_URL":   "http://localhost:" + strconv.Itoa(servicePort),
		"LISTEN_ADDR":  "127.0.0.1:" + strconv.Itoa(servicePort),
		"METRICS_ADDR": "127.0.0.1:" + strconv.Itoa(metricsPort),
		"SECRET_KEY":   randomHex(32),
		// DEV_MODE: the service is on plain http on loopback and mails the
		// sink without TLS. It changes nothing on the sign-in path.
		"DEV_MODE":        "true",
		"SMTP_URL":        s.sink.URL(),
		"SMTP_FROM":       "Blink <no-reply@blink.test>",
		"TRUSTED_PROXIES": "127.0.0.1/32",
		// The email path sends a code per flow from a few addresses: the
		// load run lifts the send limits (per address and per client IP)
		// through their settings. Everything else keeps its default.
		"RATE_SEND_EMAIL": "1000000/1h",
		"RATE_SEND_IP":    "1000000/1h",
		"SHUTDOWN_DELAY":  "0",
	}
	for k, v := range c.Env {
		env[k] = v
	}
	svc := &provider{Name: "blink-consent", URL: env["PUBLIC_URL"], MetricsURL: "http://" + env["METRICS_ADDR"] + "/metrics"}
	if c.Replicas > 1 {
		// PUBLIC_URL is the balancer's; the replicas listen elsewhere.
		if err := s.startBalanced(c.ServiceBin, env, c.Replicas, servicePort, c.BalancerRetries, c.BalancerTCP); err != nil {
			return nil, err
		}
	} else {
		cmd := exec.Command(c.ServiceBin, "serve")
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := startProcess(svc, cmd, filepath.Join(dir, "service.log"), "http://"+env["METRICS_ADDR"]+"/healthz"); err != nil {
			return nil, err
		}
	}
	s.Service = svc
	if svc.Hydra, err = s.startHydra(ctx, hydraBin, "service", svc.URL, ports[3], ports[4]); err != nil {
		return nil, err
	}
	if err := registerClients(ctx, svc); err != nil {
		return nil, err
	}
	if c.Replicas > 1 {
		if err := s.balanced(); err != nil {
			return nil, err
		}
	}

	if c.Floor {
		floorAdminPort, err := devstack.FreePort()
		if err != nil {
			return nil, err
		}
		fl := &provider{Name: "floor", URL: "http://127.0.0.1:" + strconv.Itoa(floorPort)}
		args := append(c.FloorCmd[1:len(c.FloorCmd):len(c.FloorCmd)], "-listen", "127.0.0.1:"+strconv.Itoa(floorPort),
			"-hydra-admin", "http://127.0.0.1:"+strconv.Itoa(floorAdminPort))
		cmd := exec.Command(c.FloorCmd[0], args...)
		cmd.Env = append(os.Environ(), "LOADTEST_FLOOR=1")
		if err := startProcess(fl, cmd, filepath.Join(dir, "floor.log"), fl.URL+"/healthz"); err != nil {
			return nil, err
		}
		s.Floor = fl
		if fl.Hydra, err = s.startHydra(ctx, hydraBin, "floor", fl.URL, floorAdminPort, ports[5]); err != nil {
			return nil, err
		}
		if err := registerClients(ctx, fl); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *stack) startHydra(ctx context.Context, bin, name, providerURL string, adminPort, publicPort int) (*devstack.Hydra, error) {
	dsn, err := s.pg.CreateDatabase(ctx, "hydra_"+name)
	if err != nil {
		return nil, err
	}
	// Hydra's pool defaults to two connections per CPU. With fewer
	// connections than browsers in flight Hydra v2.3.0 stalled: requests
	// got no answer for minutes while the machine was idle (seen with 4
	// connections and 8 browsers, 40 and 64). A pool larger than the
	// browsers made it go away; idle connections are let go, so the two
	// Hydras stay under PostgreSQL's max_connections (200).
	dsn += fmt.Sprintf("&max_conns=%d&max_idle_conns=8", 2*s.browsers+8)
	dir := filepath.Join(s.dir, "hydra-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return devstack.StartHydra(ctx, devstack.HydraConfig{
		Binary: bin, Dir: dir, DSN: dsn, PublicPort: publicPort, AdminPort: adminPort,
		ProviderURL: providerURL, PostLogoutURL: "http://127.0.0.1:1/logged-out", Secret: randomHex(24),
	})
}

func registerClients(ctx context.Context, p *provider) error {
	var err error
	p.Skip, err = devstack.CreateClient(ctx, p.Hydra.AdminURL, devstack.ClientSpec{
		Name: "Load first-party", RedirectURI: callbackURL, Scopes: []string{"openid", "offline", "read"}, SkipConsent: true})
	if err != nil {
		return err
	}
	p.Consent, err = devstack.CreateClient(ctx, p.Hydra.AdminURL, devstack.ClientSpec{
		Name: "Load third-party", RedirectURI: callbackURL, Scopes: []string{"openid", "email", "read"}})
	return err
}

// startProcess runs cmd with its output in logPath and waits until health answers 200.
func startProcess(p *provider, cmd *exec.Cmd, logPath, health string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	p.cmd = cmd
	p.done = make(chan error, 1)
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-p.done:
			p.done <- err
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited: %v\n%s", p.Name, err, tail(b))
		default:
		}
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s was not healthy at %s within 30s", p.Name, health)
}

func tail(b []byte) string {
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
