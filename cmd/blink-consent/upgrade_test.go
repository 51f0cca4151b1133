//go:build devstack

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// previousRelease is the release the upgrade tests run beside the newest:
// the previous one (store.PreviousRelease), or, while no migration follows
// it yet, the binary that knows every migration but the newest.
func previousRelease(t *testing.T) int {
	return min(store.PreviousRelease, newestMigration(t)-1)
}

// newestMigration is the number of the last migration this binary embeds.
func newestMigration(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("../../internal/store/migrations")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			n++
		}
	}
	return n
}

// actAs makes the commands run from now on act as the release whose last
// migration was release, until the test ends.
func actAs(t *testing.T, release int) {
	t.Helper()
	actAsRelease.Store(int64(release))
	t.Cleanup(func() { actAsRelease.Store(0) })
}

// During a rolling update the release's `migrate` hook has moved the schema
// on while the previous release's replicas still serve, and any of them may
// restart. Here `serve` acts as the previous release (it knows only that
// release's migrations) on a database migrated to the newest: it starts, a person
// signs in through it, and the rows it writes are in the new schema. Then a
// replica of the new release joins on the same database and checks the code
// the old one sent: old and new side by side.
func TestPreviousReleaseSignsInOnTheNewSchema(t *testing.T) {
	ctx := context.Background()
	newest, previous := newestMigration(t), previousRelease(t)
	actAs(t, previous)
	st, err := newTestStack(ctx, "upgrade", 0) // migrated to the newest by startStack, served as the previous release
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	if !strings.Contains(serviceLog.String(), fmt.Sprintf(`schema_version=%d binary_schema_version=%d`, newest, previous)) {
		t.Fatalf("serve did not say it runs as release %d on schema %d:\n%s", previous, newest, lastLines(serviceLog.String(), 20))
	}

	const email = "upgrade@example.com"
	subject := addUser(t, st, email) // the previous release's CLI, too
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	start := rp.start(b).Last()
	codePage := b.Post(st.ServiceURL+"/login/identify", url.Values{"flow": {flowID(t, start)}, "action": {"continue"},
		"method": {"email"}, "email": {email}}).Last()
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking the previous release for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	code := waitCode(t, testSMTP.inbox, email, 1)

	// The new release's replica starts beside it and takes the code.
	actAsRelease.Store(0)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replica, err := st.Replica(rctx, serviceLog, serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	j := b.Post(replica+"/login/code", codeForm(codePage, code))
	if _, claims := rp.tokens(t, j); claims["sub"] != subject {
		t.Fatalf("signed in as %v, want %s", claims["sub"], subject)
	}

	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var schema, used, completed, audited int
	var userID string
	if err := conn.QueryRow(ctx, `SELECT (SELECT max(version) FROM schema_migrations),
		(SELECT count(*) FROM login_codes WHERE identifier = $1 AND used_at IS NOT NULL),
		(SELECT count(*) FROM login_flows WHERE id::text = $2 AND completed_at IS NOT NULL),
		(SELECT count(*) FROM audit_events WHERE user_id::text = $3 AND action = 'sign-in succeeded' AND method = 'email')`,
		email, flowID(t, codePage), subject).Scan(&schema, &used, &completed, &audited); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT user_id::text FROM login_flows WHERE id::text = $1`, flowID(t, codePage)).Scan(&userID); err != nil {
		t.Fatal(err)
	}
	if schema != newest || used != 1 || completed != 1 || audited != 1 || userID != subject {
		t.Errorf("schema %d, %d codes used, %d flows completed, %d sign-ins audited, flow of %q; want %d, 1, 1, 1, %s",
			schema, used, completed, audited, userID, newest, subject)
	}
}

// The reverse: the new release's binary on a database the previous release
// migrated is refused, naming both versions and what to do, and leaves the
// schema as it was; once its own migrate ran it starts. And the previous
// release's binary is refused on a schema holding a contract migration it
// predates.
func TestNewReleaseRefusesAnOlderSchemaAndOldReleaseAContract(t *testing.T) {
	ctx := context.Background()
	newest, previous := newestMigration(t), previousRelease(t)
	dbURL, err := testPG.CreateDatabase(ctx, "it_upgrade_refused")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL": dbURL, "HYDRA_ADMIN_URL": "http://127.0.0.1:1", "PUBLIC_URL": "http://127.0.0.1:2",
		"DEV_MODE": "true", "SECRET_KEY": strings.Repeat("ab", 32), "LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
	}
	schemaVersion := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var v int
		if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	actAs(t, previous)
	if out, _, err := runCLI(t, env, "migrate"); err != nil {
		t.Fatalf("the previous release's migrate: %v %s", err, out)
	}
	actAsRelease.Store(0)
	err = serveBriefly(env)
	for _, want := range []string{"behind", fmt.Sprintf("at version %d", previous), fmt.Sprintf("needs version %d", newest), "run `blink-consent migrate`"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the new release's serve on the previous schema: %v; want it to say %q", err, want)
		}
	}
	if v := schemaVersion(); v != previous {
		t.Fatalf("the refused serve left the schema at %d, want %d", v, previous)
	}

	if out, _, err := runCLI(t, env, "migrate"); err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("the new release's migrate: %q %v", out, err)
	}
	if err := serveBriefly(env); err != nil {
		t.Fatalf("the new release's serve after its migrate: %v", err)
	}

	// The previous release's migrate (Helm re-running the hook of a rollback)
	// has nothing to apply and says why.
	actAs(t, previous)
	if out, _, err := runCLI(t, env, "migrate"); err != nil || !strings.Contains(out, fmt.Sprintf("(version %d) is newer than this binary's (%d)", newest, previous)) {
		t.Errorf("the previous release's migrate on the newer schema: %q %v", out, err)
	}

	// Asked before a rollback, the previous release says it can run here.
	if out, _, err := runCLI(t, env, "migrate", "--check"); err != nil || !strings.Contains(out, fmt.Sprintf("database schema version %d; this binary's %d", newest, previous)) ||
		!strings.Contains(out, "can run on it") {
		t.Errorf("migrate --check of the previous release on the newer schema: %q %v", out, err)
	}

	// A contract migration the previous release predates, as a later release
	// would record it, stops the previous release's serve.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET compatible_with = version WHERE version = $1`, newest); err != nil {
		t.Fatal(err)
	}
	err = serveBriefly(env)
	for _, want := range []string{fmt.Sprintf("at version %d", newest), fmt.Sprintf("knows up to version %d", previous), "contract migration", "restore a backup"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the previous release's serve on a contract it predates: %v; want it to say %q", err, want)
		}
	}
	if _, _, err := runCLI(t, env, "migrate"); err == nil || !strings.Contains(err.Error(), store.ErrSchemaAhead.Error()) {
		t.Errorf("the previous release's migrate on a contract it predates: %v", err)
	}
	if out, _, err := runCLI(t, env, "migrate", "--check"); err == nil || !strings.Contains(err.Error(), "contract migration") || strings.Contains(out, "can run on it") {
		t.Errorf("migrate --check of the previous release on a contract it predates: %q %v", out, err)
	}
}

// serveBriefly runs `serve` with env for a second: the error that stopped it,
// or nil when it started and ran until then.
func serveBriefly(env map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var out bytes.Buffer
	return run(ctx, []string{"blink-consent", "serve"}, func(k string) string { return env[k] }, &out, &out)
}
