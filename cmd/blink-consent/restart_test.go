//go:build devstack

package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// A user who typed their code while PostgreSQL restarted gets through once it
// is back: the pooled connections the restart cut are never shown as an error.
// The service's database is on a cluster of its own, so the restart touches no
// other test; Hydra's stays on the shared one (Hydra v2.3.0 answers the first
// request after such a restart with "invalid_client": its own affair).
func TestSignInSurvivesAPostgresRestart(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "blink-consent-restart-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := devstack.StartPostgres(ctx, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	stackDir := filepath.Join(testDir, "restart")
	if err := os.MkdirAll(stackDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := startStack(ctx, pg, stackOptions{
		Name: "it_restart", HydraBinary: testHydraBin, Dir: stackDir,
		PostLogoutURL: "http://127.0.0.1:1/logged-out", Stdout: serviceLog, Stderr: serviceLog,
		Env: providerEnv(), HydraPostgres: testPG,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })

	const email = "restart@example.com"
	subject := addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	start := rp.start(b).Last()
	codePage := b.Post(st.ServiceURL+"/login/identify", url.Values{"flow": {flowID(t, start)}, "action": {"continue"},
		"method": {"email"}, "email": {email}}).Last()
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	code := waitCode(t, testSMTP.inbox, email, 1)

	// Every pooled connection is cut while the user types.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(st.HealthURL + "/readyz"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	began := time.Now()
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(began))

	j := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code))
	if _, claims := rp.tokens(t, j); claims["sub"] != subject {
		t.Fatalf("signed in as %v, want %s", claims["sub"], subject)
	}
	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var used, completed int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM login_codes WHERE identifier = $1 AND used_at IS NOT NULL),
		(SELECT count(*) FROM login_flows WHERE id::text = $2 AND completed_at IS NOT NULL)`, email, flowID(t, codePage)).Scan(&used, &completed); err != nil {
		t.Fatal(err)
	}
	if used != 1 || completed != 1 {
		t.Errorf("after the restart: %d codes used, %d flows completed; want 1 and 1", used, completed)
	}
}
