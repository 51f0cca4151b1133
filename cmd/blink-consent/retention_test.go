//go:build devstack

package main

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// A replica starting up purges what RETENTION (default 7 days) no longer keeps,
// and nothing fresh; an identity lock still in force stays however old its
// last failure is.
func TestServePurgesSpentRows(t *testing.T) {
	exec(t, `INSERT INTO used_challenges (hash, used_at) VALUES ('retention-old', now() - interval '8 days'), ('retention-fresh', now() - interval '6 days');
		INSERT INTO rate_events (bucket, key, at) VALUES ('send-email', 'retention-old', now() - interval '8 days'), ('send-email', 'retention-fresh', now() - interval '6 days');
		INSERT INTO identity_failures (identifier, failures, updated_at) VALUES ('retention-old', 100, now() - interval '8 days'), ('retention-fresh', 100, now() - interval '6 days');
		INSERT INTO identity_failures (identifier, failures, updated_at, locked_until) VALUES ('retention-locked', 100, now() - interval '8 days', now() + interval '1 hour');
		INSERT INTO outbox (channel, destination, sealed, status, not_after, created_at)
			VALUES ('email', 'retention-old', 's', 'sent', now() - interval '8 days', now() - interval '8 days'),
			       ('email', 'retention-fresh', 's', 'sent', now() - interval '6 days', now() - interval '6 days')`)
	t.Cleanup(func() {
		exec(t, `DELETE FROM used_challenges WHERE hash LIKE 'retention-%'; DELETE FROM rate_events WHERE key LIKE 'retention-%';
			DELETE FROM identity_failures WHERE identifier LIKE 'retention-%'; DELETE FROM outbox WHERE destination LIKE 'retention-%'`)
	})
	const left = `SELECT (SELECT count(*) FROM used_challenges WHERE hash = 'retention-old') + (SELECT count(*) FROM rate_events WHERE key = 'retention-old')
		+ (SELECT count(*) FROM identity_failures WHERE identifier = 'retention-old') + (SELECT count(*) FROM outbox WHERE destination = 'retention-old')`
	if queryInt(t, left) != 4 {
		t.Fatal("the old rows were not inserted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := testStack.Replica(ctx, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for queryInt(t, left) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d old rows still there 10 s after a replica started", queryInt(t, left))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := queryInt(t, `SELECT (SELECT count(*) FROM used_challenges WHERE hash = 'retention-fresh') + (SELECT count(*) FROM rate_events WHERE key = 'retention-fresh')
		+ (SELECT count(*) FROM identity_failures WHERE identifier = 'retention-fresh') + (SELECT count(*) FROM outbox WHERE destination = 'retention-fresh')`); n != 4 {
		t.Errorf("%d of the 4 fresh rows are left", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM identity_failures WHERE identifier = 'retention-locked' AND failures = 100 AND locked_until > now()`); n != 1 {
		t.Error("the purge deleted an identity lock still in force")
	}
}

func TestServeRefusesARateWindowLongerThanRetention(t *testing.T) {
	env := map[string]string{"DATABASE_URL": testStack.DatabaseURL, "HYDRA_ADMIN_URL": "http://127.0.0.1:1", "PUBLIC_URL": "http://127.0.0.1:2",
		"DEV_MODE": "true", "SECRET_KEY": strings.Repeat("ab", 32), "RETENTION": "12h", "RATE_SEND_IP": "16/48h", "LOCKOUT_DURATION": "13h"}
	_, _, err := runCLI(t, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "RATE_SEND_IP: its window (48h) is longer than RETENTION (12h)") ||
		!strings.Contains(err.Error(), "RATE_SEND_PHONE: its window (24h) is longer than RETENTION (12h)") ||
		!strings.Contains(err.Error(), "LOCKOUT_DURATION: 13h is longer than RETENTION (12h)") {
		t.Errorf("serve with windows and a lockout longer than RETENTION: %v", err)
	}
}

// "Remember me" lasts LOGIN_REMEMBER_FOR in all three places: the accept
// (Hydra's session cookie), and what the service keeps of the session (amr and
// acr), which stays until Hydra can no longer skip the sign-in for it.
func TestLoginRememberForAgreesWithHydraAndRetention(t *testing.T) {
	cfg, err := config.Load(func(k string) string { return testStack.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	const email = "remember.for@example.com"
	subject := addUser(t, testStack, email)
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	j := emailSignIn(t, b, rp.start(b).Last(), email) // "Remember me" ticked
	rp.tokens(t, j)
	maxAge := ""
	for _, h := range j.Hops {
		for _, c := range h.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "ory_hydra_session") {
				for _, attr := range strings.Split(c, ";") {
					if v, ok := strings.CutPrefix(strings.TrimSpace(attr), "Max-Age="); ok {
						maxAge = v
					}
				}
			}
		}
	}
	if want := strconv.Itoa(int(cfg.LoginRememberFor.Seconds())); maxAge != want {
		t.Fatalf("Hydra's session cookie has Max-Age %q, want LOGIN_REMEMBER_FOR's %s s", maxAge, want)
	}

	// The session's record outlives the cookie (by a day), then goes.
	session := func() int {
		return queryInt(t, `SELECT count(*) FROM login_sessions WHERE user_id::text = $1`, subject)
	}
	if session() != 1 {
		t.Fatal("no login session recorded")
	}
	db := openStore(t, testStack)
	age := func(d time.Duration) {
		exec(t, `UPDATE login_sessions SET created_at = now() - $2::interval WHERE user_id::text = $1`, subject, d)
		if _, _, err := db.Purge(context.Background(), retention(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	age(cfg.LoginRememberFor + time.Hour) // the cookie is gone, but clocks differ
	if session() != 1 {
		t.Fatal("the login session went while its cookie may still be valid")
	}
	age(cfg.LoginRememberFor + 25*time.Hour)
	if session() != 0 {
		t.Error("the login session outlived LOGIN_REMEMBER_FOR and its margin")
	}
}
