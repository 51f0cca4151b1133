//go:build devstack

package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"blink-consent"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"dev", "--help"},
		{"users", "--help"}, {"users", "add", "--help"}, {"users", "disable", "--help"}, {"users", "enable", "--help"},
		{"users", "unlock", "--help"}, {"audit", "--help"}, {"version", "--help"}, {"help"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage") {
			t.Errorf("%v: err=%v output=%q", args, err, out)
		}
	}
}

func TestUnknownCommandsFail(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"users"}, {"users", "delete"}, {"serve", "--bogus"}, {"version", "extra"}} {
		if _, _, err := runCLI(t, nil, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v9.8.7", "0123abcd"
	out, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; first != "blink-consent v9.8.7 (commit 0123abcd, "+runtime.Version()+", for Ory Hydra v2.3.0)" {
		t.Errorf("first line: %q", first)
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"github.com/ory/hydra-client-go/v2", "github.com/jackc/pgx/v5", "github.com/a-h/templ", "github.com/go-chi/chi/v5", "go.opentelemetry.io/otel/sdk", "github.com/coreos/go-oidc/v3"} {
		m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(path) + ` (v\S+)`).FindStringSubmatch(string(goMod))
		if m == nil {
			t.Fatalf("%s is not in go.mod", path)
		}
		if want := "  " + path + " " + m[1] + "\n"; !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
}

// The production build (no devstack tag, as make build and the Dockerfile
// build it) links none of the development stack, refuses `dev` with a way
// out, and reports the version and commit given to the linker.
func TestProductionBuildLeavesOutTheDevStack(t *testing.T) {
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	deps, err := osexec.Command(goCmd, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, deps)
	}
	if strings.Contains(string(deps), "/internal/devstack") || !strings.Contains(string(deps), "/internal/hydra") {
		t.Errorf("the production build's packages:\n%s", deps)
	}
	bin := filepath.Join(t.TempDir(), "blink-consent")
	build := osexec.Command(goCmd, "build", "-trimpath", "-ldflags", "-X main.version=v1.2.3 -X main.commit=feedbeef", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := osexec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "blink-consent v1.2.3 (commit feedbeef, ") {
		t.Errorf("version of the production binary: %q %v", out, err)
	}
	// A missing HYDRA_BIN stops a binary that does have the dev stack before
	// it starts anything, and the timeout ends one that got further.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev := osexec.CommandContext(ctx, bin, "dev")
	dev.Env = append(os.Environ(), "HYDRA_BIN="+filepath.Join(t.TempDir(), "no-hydra"))
	out, err = dev.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "built without the development stack") || !strings.Contains(string(out), "make build-dev") {
		t.Errorf("dev on the production binary: %q %v", out, err)
	}
}

// Outside DEV_MODE, a DATABASE_URL that does not verify the server's
// certificate is warned about at start, by its mode and never with the URL
// (it holds the password).
func TestServeWarnsWhenTheDatabaseIsNotVerified(t *testing.T) {
	production := map[string]string{
		"HYDRA_ADMIN_URL": "http://127.0.0.1:1", "PUBLIC_URL": "https://login.example.com", "SECRET_KEY": strings.Repeat("ab", 32),
		"SMTP_URL": "smtps://mailer:pw@127.0.0.1:1", "SMTP_FROM": "Blink <no-reply@example.com>", "TRUSTED_PROXIES": "10.0.0.0/8",
		"LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
	}
	dev := map[string]string{
		"HYDRA_ADMIN_URL": "http://127.0.0.1:1", "PUBLIC_URL": "http://127.0.0.1:2", "SECRET_KEY": strings.Repeat("ab", 32),
		"DEV_MODE": "true", "LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
	}
	// Port 1 refuses the connection: serve stops right after its start-up checks.
	const db = "postgres://blink:topsecret@127.0.0.1:1/consent"
	for _, c := range []struct {
		name, url string
		env       map[string]string
		extra     map[string]string
		warnMode  string // "" when no warning is expected
	}{
		{"no sslmode", db, production, nil, "prefer"},
		{"require", db + "?sslmode=require", production, nil, "require"},
		{"verify-ca", db + "?sslmode=verify-ca", production, nil, "verify-ca"},
		{"PGSSLMODE", db, production, map[string]string{"PGSSLMODE": "disable"}, "disable"},
		{"verify-full", db + "?sslmode=verify-full", production, nil, ""},
		{"PGSSLMODE verify-full", db, production, map[string]string{"PGSSLMODE": "verify-full"}, ""},
		{"DEV_MODE", db, dev, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": c.url}
			maps.Copy(env, c.env)
			maps.Copy(env, c.extra)
			out, _, err := runCLI(t, env, "serve")
			if err == nil {
				t.Fatal("serve started without a database")
			}
			if strings.Contains(err.Error(), "HYDRA_ADMIN_URL") || strings.Contains(err.Error(), "SMTP") {
				t.Fatalf("the configuration was refused: %v", err)
			}
			warned := strings.Contains(out, "sslmode=verify-full")
			if want := c.warnMode != ""; warned != want {
				t.Errorf("warned=%v, want %v; log:\n%s", warned, want, out)
			}
			if warned && !strings.Contains(out, `"sslmode":"`+c.warnMode+`"`) {
				t.Errorf("the warning does not name sslmode %s:\n%s", c.warnMode, out)
			}
			if strings.Contains(out, "topsecret") || strings.Contains(out, "blink:") {
				t.Errorf("the log shows the database URL:\n%s", out)
			}
		})
	}
}

func TestServeNamesTheMissingVariable(t *testing.T) {
	_, _, err := runCLI(t, map[string]string{"DATABASE_URL": "postgres://u:topsecret@127.0.0.1/x"}, "serve")
	if err == nil || !strings.Contains(err.Error(), "HYDRA_ADMIN_URL") || !strings.Contains(err.Error(), "SECRET_KEY") {
		t.Errorf("serve with a partial environment: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "topsecret") {
		t.Error("the error shows the database password")
	}
}

func TestMigrateIsIdempotentAndServeRefusesAnOldSchema(t *testing.T) {
	ctx := context.Background()
	dbURL, err := testPG.CreateDatabase(ctx, "it_migrate")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL": dbURL, "HYDRA_ADMIN_URL": "http://127.0.0.1:1", "PUBLIC_URL": "http://127.0.0.1:2",
		"DEV_MODE": "true", "SECRET_KEY": strings.Repeat("ab", 32), "LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
	}

	_, _, err = runCLI(t, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "run `blink-consent migrate`") {
		t.Fatalf("serve on an empty database: %v", err)
	}
	if _, _, err := runCLI(t, env, "users", "add", "--email", "a@example.com"); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("users add on an empty database: %v", err)
	}

	out, _, err := runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "applied 0001_users.sql") {
		t.Fatalf("first migrate: %q %v", out, err)
	}
	out, _, err = runCLI(t, env, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %q %v", out, err)
	}

	// Now serve starts (and stops with its context).
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var sout, serr bytes.Buffer
	if err := run(sctx, []string{"blink-consent", "serve"}, func(k string) string { return env[k] }, &sout, &serr); err != nil {
		t.Fatalf("serve on a migrated database: %v\n%s", err, sout.String())
	}
	if !strings.Contains(sout.String(), `"msg":"listening"`) || !strings.Contains(sout.String(), `"msg":"stopped"`) {
		t.Errorf("serve did not start and stop cleanly:\n%s", sout.String())
	}
}

func TestUsersAdd(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testStack.DatabaseURL}
	out, _, err := runCLI(t, env, "users", "add", "--email", "Maria@Example.COM", "--phone", "+50371234567")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	db := openStore(t, testStack)
	u, err := db.UserByID(context.Background(), id)
	if err != nil {
		t.Fatalf("the printed id %q is not a user: %v", id, err)
	}
	if u.Email != "maria@example.com" || u.Phone != "+50371234567" || !u.EmailVerified || !u.PhoneVerified || !u.Active() {
		t.Errorf("stored user %+v", u)
	}

	for _, args := range [][]string{
		{"users", "add"},
		{"users", "add", "--email", "not-an-email"},
		{"users", "add", "--email", "Maria <maria@example.com>"},
		{"users", "add", "--phone", "70000000"},
		{"users", "add", "--phone", "+0123"},
		{"users", "add", "--email", "maria@example.com"}, // taken
	} {
		if _, _, err := runCLI(t, env, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, err := db.UserByEmail(context.Background(), "not-an-email"); err != store.ErrNotFound {
		t.Errorf("a refused user was stored: %v", err)
	}
}
