package main

import (
	"bytes"
	"context"
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
		{"users", "--help"}, {"users", "add", "--help"}, {"version", "--help"}, {"help"}} {
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
	out, _, err := runCLI(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "blink-consent ") || !strings.Contains(out, "v2.3.0") {
		t.Errorf("version: %q %v", out, err)
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
