package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
)

// HydraVersion is the Hydra release the project is built and tested against.
const HydraVersion = hydra.TargetVersion

// RepoRoot finds the checkout this binary was run from: the nearest directory
// upwards from the working directory whose go.mod declares this module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/blinkbitcoin/blink-consent\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a blink-consent checkout (no go.mod of module github.com/blinkbitcoin/blink-consent above the working directory)")
		}
		dir = parent
	}
}

// HydraBinary returns a Hydra v2.3.0 binary: $HYDRA_BIN when set, else
// bin/hydra in the checkout, built from the Go module proxy through the pinned
// module in tools/hydra when missing or older than that module's go.sum.
func HydraBinary(ctx context.Context, getenv func(string) string, log io.Writer) (string, error) {
	if p := getenv("HYDRA_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("HYDRA_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding Hydra: set HYDRA_BIN, or run from the checkout: %w", err)
	}
	bin := filepath.Join(root, "bin", "hydra")
	pin := filepath.Join(root, "tools", "hydra", "go.sum")
	binInfo, binErr := os.Stat(bin)
	pinInfo, pinErr := os.Stat(pin)
	if pinErr != nil {
		return "", fmt.Errorf("finding Hydra: %w", pinErr)
	}
	if binErr == nil && binInfo.ModTime().After(pinInfo.ModTime()) {
		return bin, nil
	}
	fmt.Fprintf(log, "building Ory Hydra %s from the Go module proxy (first time: a few minutes)…\n", HydraVersion)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ory/hydra/v2")
	cmd.Dir = filepath.Join(root, "tools", "hydra")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building Hydra: %w", err)
	}
	return bin, nil
}

// HydraConfig is what a Hydra instance needs to know.
type HydraConfig struct {
	Binary     string
	Dir        string // config and log go here
	DSN        string // its own PostgreSQL database
	PublicPort int
	AdminPort  int
	// ProviderURL is this service's base URL: /login, /consent, /logout and /error hang off it.
	ProviderURL string
	// PostLogoutURL is where Hydra sends the browser after a logout without a client redirect.
	PostLogoutURL string
	// RequestTTL is ttl.login_consent_request; 0 means Hydra's default (30m).
	RequestTTL time.Duration
	// Secret is secrets.system (16+ characters).
	Secret string
}

// Hydra is a running Hydra.
type Hydra struct {
	PublicURL string
	AdminURL  string
	cmd       *exec.Cmd
	done      chan error
	logPath   string
	cfgPath   string
	env       []string
	binary    string
	mu        sync.Mutex
	stopped   bool
}

var hydraYAML = template.Must(template.New("hydra").Parse(`serve:
  public:
    host: 127.0.0.1
    port: {{.PublicPort}}
  admin:
    host: 127.0.0.1
    port: {{.AdminPort}}
  cookies:
    same_site_mode: Lax
urls:
  self:
    issuer: http://127.0.0.1:{{.PublicPort}}/
  login: {{.ProviderURL}}/login
  consent: {{.ProviderURL}}/consent
  logout: {{.ProviderURL}}/logout
  error: {{.ProviderURL}}/error
  post_logout_redirect: {{.PostLogoutURL}}
secrets:
  system:
    - {{.Secret}}
oidc:
  subject_identifiers:
    supported_types:
      - public
ttl:
  login_consent_request: {{.TTL}}
log:
  level: warn
  leak_sensitive_values: false
`))

// StartHydra migrates Hydra's database and runs `hydra serve all --dev`
// until Stop. The process dies with this one, even if this one is killed.
func StartHydra(ctx context.Context, c HydraConfig) (*Hydra, error) {
	if len(c.Secret) < 16 {
		return nil, errors.New("hydra: secrets.system must have 16 or more characters")
	}
	ttl := c.RequestTTL
	if ttl == 0 {
		ttl = 30 * time.Minute
	}
	var cfg bytes.Buffer
	if err := hydraYAML.Execute(&cfg, struct {
		HydraConfig
		TTL string
	}{c, ttl.String()}); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(c.Dir, "hydra.yml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "DSN="+c.DSN)

	migrate := exec.CommandContext(ctx, c.Binary, "migrate", "sql", "up", "-e", "--yes")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hydra migrate: %w\n%s", err, out)
	}

	h := &Hydra{
		PublicURL: fmt.Sprintf("http://127.0.0.1:%d", c.PublicPort),
		AdminURL:  fmt.Sprintf("http://127.0.0.1:%d", c.AdminPort),
		logPath:   filepath.Join(c.Dir, "hydra.log"),
		cfgPath:   cfgPath,
		env:       env,
		binary:    c.Binary,
	}
	if err := h.start(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Start runs a stopped Hydra again on the same ports and database, as when
// it comes back after an outage.
func (h *Hydra) Start(ctx context.Context) error {
	h.mu.Lock()
	stopped := h.stopped
	h.mu.Unlock()
	if !stopped {
		return errors.New("hydra: Start while it runs")
	}
	return h.start(ctx)
}

func (h *Hydra) start(ctx context.Context) error {
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(h.binary, "serve", "all", "--dev", "--sqa-opt-out", "-c", h.cfgPath)
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting hydra: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	h.mu.Lock()
	h.cmd, h.done, h.stopped = cmd, done, false
	h.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if ready(ctx, h.AdminURL+"/health/ready") && ready(ctx, h.PublicURL+"/health/ready") {
			return nil
		}
		select {
		case err := <-done:
			return fmt.Errorf("hydra exited: %v\n%s", err, h.Log())
		case <-ctx.Done():
			h.Stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.Stop()
			return fmt.Errorf("hydra was not ready within 60s\n%s", h.Log())
		}
	}
}

func ready(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Log returns the tail of Hydra's log, for error messages.
func (h *Hydra) Log() string {
	b, _ := os.ReadFile(h.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop ends Hydra and waits for it. Calling it again does nothing.
func (h *Hydra) Stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		stopProcess(h.cmd, h.done, syscall.SIGTERM, 10*time.Second)
	}
}
