//go:build devstack

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The integration tests run against real parts, started once per test binary:
// a throwaway PostgreSQL cluster, a real Ory Hydra v2.3.0 and this service,
// started through run() exactly as `blink-consent serve` is. When PostgreSQL
// or Hydra cannot be had, the run fails and says why; it never skips.
var (
	testPG       *devstack.Postgres
	testStack    *stack
	testHydraBin string
	testDir      string
	serviceLog   = &syncBuffer{}
	testSMTP     *smtpServer
	testTwilio   *twilioServer
	testSpy      *hydraSpy
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	ctx := context.Background()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "FAIL: the integration tests need real PostgreSQL and Hydra: "+format+"\n", a...)
		return 1
	}
	var err error
	testHydraBin, err = devstack.HydraBinary(ctx, os.Getenv, os.Stderr)
	if err != nil {
		return fail("%v", err)
	}
	testDir, err = os.MkdirTemp("", "blink-consent-test-*")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(testDir)
	// Its own temp dir: as root, PostgreSQL runs as another user, who cannot
	// enter testDir.
	pgDir, err := os.MkdirTemp("", "blink-consent-test-pg-*")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(pgDir)
	testPG, err = devstack.StartPostgres(ctx, pgDir, 0)
	if err != nil {
		return fail("%v", err)
	}
	defer testPG.Stop()
	if testSMTP, err = startSMTP(testDir); err != nil {
		return fail("SMTP server: %v", err)
	}
	if testTwilio, err = startTwilio(); err != nil {
		return fail("Twilio stand-in: %v", err)
	}
	// The main stack reaches Hydra's admin API through a spy, so tests can
	// assert on the accepts Hydra really received.
	opts, err := testStackOptions("main", 0)
	if err != nil {
		return fail("%v", err)
	}
	if opts.HydraAdminPort, err = devstack.FreePort(); err != nil {
		return fail("%v", err)
	}
	if testSpy, err = startHydraSpy("http://127.0.0.1:" + fmt.Sprint(opts.HydraAdminPort)); err != nil {
		return fail("Hydra spy: %v", err)
	}
	defer testSpy.Close()
	opts.Env["HYDRA_ADMIN_URL"] = testSpy.URL
	testStack, err = startStack(ctx, testPG, opts)
	if err != nil {
		return fail("%v", err)
	}
	code := m.Run()
	if err := testStack.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the service did not shut down cleanly: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- service log (last 60 lines) ---\n%s\n", lastLines(serviceLog.String(), 60))
	}
	return code
}

// newTestStack starts this service and a Hydra on the shared cluster, each
// stack with its own databases and free ports.
func newTestStack(ctx context.Context, name string, ttl time.Duration, extraEnv ...map[string]string) (*stack, error) {
	opts, err := testStackOptions(name, ttl, extraEnv...)
	if err != nil {
		return nil, err
	}
	return startStack(ctx, testPG, opts)
}

func testStackOptions(name string, ttl time.Duration, extraEnv ...map[string]string) (stackOptions, error) {
	dir := filepath.Join(testDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return stackOptions{}, err
	}
	return stackOptions{
		Name: "it_" + name, HydraBinary: testHydraBin, Dir: dir, RequestTTL: ttl,
		PostLogoutURL: "http://127.0.0.1:1/logged-out", Stdout: serviceLog, Stderr: serviceLog,
		Env: providerEnv(extraEnv...),
	}, nil
}

// testSupportURL is the stacks' SUPPORT_URL: error pages and the
// lost-authenticator help link to it.
const testSupportURL = "https://support.blink.test/help"

// providerEnv points the service at the test SMTP server and Twilio stand-in.
func providerEnv(extra ...map[string]string) map[string]string {
	env := map[string]string{
		"SMTP_URL":             testSMTP.URL(),
		"SMTP_FROM":            "Blink <no-reply@blink.test>",
		"SMTP_CA_FILE":         testSMTP.caFile,
		"TWILIO_API_URL":       testTwilio.url,
		"TWILIO_ACCOUNT_SID":   testTwilio.sid,
		"TWILIO_AUTH_TOKEN":    testTwilio.token,
		"TWILIO_FROM":          "+15005550006",
		"TWILIO_WHATSAPP_FROM": "+15005550007",
		"SMS_COUNTRIES":        "SV,US",
		"TRUSTED_PROXIES":      "127.0.0.1/32",
		"SUPPORT_URL":          testSupportURL,
	}
	for _, m := range extra {
		for k, v := range m {
			env[k] = v
		}
	}
	return env
}

// syncBuffer collects the service's log lines so tests can check what was logged.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
