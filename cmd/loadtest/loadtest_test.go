//go:build devstack

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The floor runs as a child process of the test binary, as of the tool's.
func TestMain(m *testing.M) {
	if os.Getenv("LOADTEST_FLOOR") == "1" {
		if err := runFloor(context.Background(), os.Args[1:], os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serviceBinary builds bin/blink-consent as `make build` does, into the test's directory.
func serviceBinary(t *testing.T) string {
	t.Helper()
	root, err := devstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "blink-consent")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/blink-consent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the service: %v\n%s", err, out)
	}
	return bin
}

// idClaims reads the ID token's payload (the token endpoint, over loopback, is trusted here).
func idClaims(t *testing.T, idToken string) map[string]any {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("an ID token of %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// The load tool's driver, on the real stack, takes every path through both
// providers to the end: each flow ends with an access token and an ID token
// for the browser's own account, and a round measures the provider from /proc.
func TestDriverFlowsEndWithTokens(t *testing.T) {
	ctx := context.Background()
	st, err := startStack(ctx, stackConfig{ServiceBin: serviceBinary(t), FloorCmd: []string{os.Args[0]}, Users: 2, Floor: true, Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []*provider{st.Service, st.Floor} {
		d := newDriver(p, st.sink, 2)
		bs := browsers(d, st.Emails, 2)
		if err := d.signInAll(ctx, bs); err != nil {
			t.Fatal(err)
		}
		subjects := map[string]string{}
		for _, path := range []string{pathSkip, pathConsent, pathEmail, pathPasskey, pathSkip} {
			for _, b := range bs {
				tok, err := d.run(ctx, b, path)
				if err != nil {
					t.Fatalf("%s, path %s: %v", p.Name, path, err)
				}
				if tok.AccessToken == "" {
					t.Fatalf("%s, path %s: no access token", p.Name, path)
				}
				// The floor sends no code; the service's email path does.
				if (p == st.Service && path == pathEmail) != (tok.TimeToCode > 0) {
					t.Errorf("%s, path %s: time to code %v (measured on the service's email path only)", p.Name, path, tok.TimeToCode)
				}
				claims := idClaims(t, tok.IDToken)
				sub, _ := claims["sub"].(string)
				if sub == "" {
					t.Fatalf("%s, path %s: an ID token without sub: %v", p.Name, path, claims)
				}
				if p == st.Service {
					// Each browser is its own account, on every path.
					if prev, ok := subjects[b.email]; ok && prev != sub {
						t.Errorf("path %s: %s signed in as %s, before as %s", path, b.email, sub, prev)
					}
					subjects[b.email] = sub
					// The passkey path signs in with the passkey the first
					// sign-in's offer made: no code, amr "hwk".
					if amr, _ := json.Marshal(claims["amr"]); (path == pathPasskey) != strings.Contains(string(amr), `"hwk"`) {
						t.Errorf("path %s: amr %s", path, amr)
					}
					if path == pathConsent && claims["email"] != b.email {
						t.Errorf("path consent: the ID token's email is %v, want %s", claims["email"], b.email)
					}
				}
			}
		}
		if p == st.Service && (len(subjects) != 2 || subjects[st.Emails[0]] == subjects[st.Emails[1]]) {
			t.Errorf("two accounts should give two subjects: %v", subjects)
		}
		res, err := d.round(ctx, bs, pathMixed, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors > 0 || res.Flows == 0 || res.CPU <= 0 || res.PeakRSS <= 0 {
			t.Errorf("%s: a mixed round: %d flows, %d errors %v, CPU %v, peak RSS %d", p.Name, res.Flows, res.Errors, res.Errs, res.CPU, res.PeakRSS)
		}
	}
}

// The rolling mode's short form, so it cannot rot: two replicas behind a
// real HAProxy health-checking /readyz, 8 browsers on the mixed path, each
// replica replaced once (SIGTERM, exit, a new process) under load. Not one
// flow may fail, not one 5xx reach a browser, and the new processes must
// have served. With SHUTDOWN_DELAY=0 it fails (the balancer still sends
// requests to a closed listener), which is what the drain is for.
// HAProxy missing is a failure, never a skip: scripts/ensure-haproxy.sh
// (run by make test) installs it.
func TestRollingRestartLosesNoSignIn(t *testing.T) {
	o := options{Mode: "rolling", Paths: []string{pathMixed}, Concurrency: []int{8}, Restarts: 1,
		ShutdownDelay: 5 * time.Second, Balancer: "http", ServiceBin: serviceBinary(t)}
	var out strings.Builder
	res, err := rolling(context.Background(), o, &out, os.Stderr)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) > 0 || res.ServerErrors > 0 || res.Flows == 0 || res.Restarts != 2 {
		t.Errorf("%d flows, %d failed, %d answers 5xx, %d processes replaced", res.Flows, len(res.Failed), res.ServerErrors, res.Restarts)
	}
	for _, name := range []string{"r0", "r1"} {
		if res.Served[name] == 0 {
			t.Errorf("the new process of %s served no request: %v", name, res.Served)
		}
	}
}
