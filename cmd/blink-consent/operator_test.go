//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// operatorEnv is what `users disable|enable|unlock` need.
func operatorEnv(hydraAdmin string) map[string]string {
	return map[string]string{"DATABASE_URL": testStack.DatabaseURL, "HYDRA_ADMIN_URL": hydraAdmin}
}

// rememberedSignIn signs email in with its code and "remember me" on a client
// with offline access, and returns the client, the browser and the tokens.
func rememberedSignIn(t *testing.T, email string) (*relyingParty, *browser, *oauth2.Token) {
	t.Helper()
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid", "offline"}, SkipConsent: true})
	b := newBrowser(t)
	tok, _ := rp.tokens(t, emailSignIn(t, b, rp.start(b).Last(), email))
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	// The sign-in is remembered: the next authorization shows no page.
	if j := rp.start(b); len(j.Pages()) != 0 || j.Callback == nil || j.Callback.Query().Get("code") == "" {
		t.Fatalf("the sign-in was not remembered: %v", paths(j))
	}
	return rp, b, tok
}

// refreshes reports whether Hydra still exchanges the refresh token.
func refreshes(rp *relyingParty, tok *oauth2.Token) bool {
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	_, err := rp.oauth.TokenSource(context.Background(), &expired).Token()
	return err == nil
}

func TestUsersDisableRevokesHydraSessionsAndEnableLetsBackIn(t *testing.T) {
	const email = "disable.me@example.com"
	subject := addUser(t, testStack, email)
	rp, b, tok := rememberedSignIn(t, email)

	out, errOut, err := runCLI(t, operatorEnv(testStack.env["HYDRA_ADMIN_URL"]), "users", "disable", "--user", subject)
	if err != nil {
		t.Fatalf("users disable: %v %s", err, errOut)
	}
	if !strings.Contains(out, "revoked") {
		t.Errorf("users disable printed %q", out)
	}
	if queryInt(t, `SELECT count(*) FROM users WHERE id = $1::uuid AND disabled_at IS NOT NULL`, subject) != 1 {
		t.Error("the user is not disabled")
	}
	if refreshes(rp, tok) {
		t.Error("the refresh token still refreshes after users disable")
	}
	// Hydra forgot the sign-in: it asks for one again.
	if last := rp.start(b).Last(); last.URL.Path != "/login" || last.Status != http.StatusOK || !strings.Contains(last.Body, `name="flow"`) {
		t.Errorf("after users disable the authorization ended on %s %d, want the sign-in page", last.URL.Path, last.Status)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND actor = 'cli'
		AND action IN ('user disabled', 'hydra sessions revoked')`, subject); n != 2 {
		t.Errorf("%d audit rows for the disable, want 2", n)
	}

	if _, errOut, err := runCLI(t, operatorEnv(""), "users", "enable", "--user", subject); err != nil {
		t.Fatalf("users enable: %v %s", err, errOut)
	}
	if queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND actor = 'cli' AND action = 'user enabled'`, subject) != 1 {
		t.Error("users enable was not audited")
	}
	b2 := newBrowser(t)
	if tok, claims := rp.tokens(t, emailSignIn(t, b2, rp.start(b2).Last(), email)); claims["sub"] != subject || tok.RefreshToken == "" {
		t.Errorf("after users enable: sub %v", claims["sub"])
	}
}

func TestUsersDisableWithoutHydraStillDisables(t *testing.T) {
	const email = "disable.nohydra@example.com"
	subject := addUser(t, testStack, email)
	rp, b, _ := rememberedSignIn(t, email)

	_, _, err := runCLI(t, operatorEnv("http://127.0.0.1:1"), "users", "disable", "--user", subject)
	if err == nil || !strings.Contains(err.Error(), "Hydra was not told") || !strings.Contains(err.Error(), "run the command again") {
		t.Fatalf("users disable with Hydra down: %v", err)
	}
	if queryInt(t, `SELECT count(*) FROM users WHERE id = $1::uuid AND disabled_at IS NOT NULL`, subject) != 1 {
		t.Fatal("the user is not disabled when Hydra is down")
	}
	// Hydra still remembers the sign-in; the remembered path refuses the account.
	j := rp.start(b)
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" || j.Callback.Query().Get("code") != "" {
		t.Fatalf("a disabled user's remembered sign-in: %v", paths(j))
	}
	for _, args := range [][]string{
		{"users", "disable"},
		{"users", "disable", "--user", "7d3c6a56-0000-4000-8000-000000000000"},
		{"users", "enable", "--user", "not-a-uuid"},
	} {
		if _, _, err := runCLI(t, operatorEnv(testStack.env["HYDRA_ADMIN_URL"]), args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestUsersUnlock(t *testing.T) {
	const email = "Locked.Out@example.com"
	addUser(t, testStack, strings.ToLower(email))
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	before := codeCount(testSMTP.inbox, strings.ToLower(email))
	codePage := requestCode(t, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {strings.ToLower(email)}}).Last()
	code := waitCode(t, testSMTP.inbox, strings.ToLower(email), before+1)
	exec(t, `INSERT INTO identity_failures (identifier, failures, locked_until) VALUES ($1, 100, now() + interval '1 hour')`, strings.ToLower(email))
	exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'fail-identifier', $1 FROM generate_series(1, 50)`, strings.ToLower(email))

	out, errOut, err := runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", " "+email+" ")
	if err != nil || !strings.Contains(out, "unlocked") {
		t.Fatalf("users unlock: %v %s %s", err, out, errOut)
	}
	if n := queryInt(t, `SELECT (SELECT count(*) FROM identity_failures WHERE identifier = $1) + (SELECT count(*) FROM rate_events WHERE bucket = 'fail-identifier' AND key = $1)`, strings.ToLower(email)); n != 0 {
		t.Errorf("%d failure rows left after unlock", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events a JOIN users u ON u.id = a.user_id
		WHERE u.email = $1 AND a.action = 'identifier unlocked' AND a.actor = 'cli' AND a.details->>'identifier' = 'l•••@example.com'`, strings.ToLower(email)); n != 1 {
		t.Errorf("%d audit rows for the unlock, want 1", n)
	}
	if _, claims := rp.tokens(t, submitCode(b, codePage, code)); claims["sub"] == nil {
		t.Error("the right code did not sign in after unlock")
	}

	for _, id := range []string{"", "not an email@", "50370000000", "+1"} {
		if _, _, err := runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", id); err == nil {
			t.Errorf("unlock %q: accepted", id)
		}
	}
	// A phone number is normalised to E.164 as the sign-in stores it.
	exec(t, `INSERT INTO identity_failures (identifier, failures, locked_until) VALUES ('+50370001234', 100, now() + interval '1 hour')`)
	if _, _, err := runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", "+503 7000 1234"); err != nil {
		t.Fatal(err)
	}
	if queryInt(t, `SELECT count(*) FROM identity_failures WHERE identifier = '+50370001234'`) != 0 {
		t.Error("a phone number's lockout was not cleared")
	}
}

// A phone user who asked for 8 codes (RATE_SEND_PHONE's default) is blocked
// for up to 24 hours; `users unlock`
// lifts that too, audited, and says what it cleared: the next code request
// goes out. The per-IP limit of the address is not touched.
func TestUsersUnlockLiftsTheSendLimit(t *testing.T) {
	const phone, e164 = "7999 0042", "+50379990042"
	b := newBrowser(t)
	ask := func(i int) hop {
		b.IP = fmt.Sprintf("203.0.116.%d", i)
		return requestCode(t, b, identifierPage(t, b), url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {phone}, "channel": {"sms"}}).Last()
	}
	for i := 1; i <= 8; i++ {
		if h := ask(i); h.URL.Path != "/login/code" {
			t.Fatalf("code %d refused: %d", i, h.Status)
		}
	}
	if h := ask(9); !isTooMany(h) {
		t.Fatalf("the ninth code in 24h: %d", h.Status)
	}
	ipEvents := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'send-ip' AND key LIKE '203.0.116.%'`)

	out, errOut, err := runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", "+503 7999 0042")
	if err != nil || !strings.Contains(out, "cleared 0 consecutive failed codes, 0 failed codes counted by the failure limit, 8 codes counted by the send limit") {
		t.Fatalf("users unlock: %v %q %s", err, out, errOut)
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'send-phone' AND key = $1`, e164); n != 0 {
		t.Errorf("%d send-phone events left after unlock", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'send-ip' AND key LIKE '203.0.116.%'`); n != ipEvents {
		t.Errorf("unlock changed the per-IP events: %d, were %d", n, ipEvents)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events WHERE action = 'identifier unlocked' AND actor = 'cli' AND result = 'cleared'
		AND (details->>'send_limit')::int = 8 AND (details->>'failures')::int = 0 AND details->>'identifier' NOT LIKE '%79990042%'`); n != 1 {
		t.Errorf("%d audit rows saying 8 sends were cleared, with the number masked; want 1", n)
	}
	if h := ask(10); h.URL.Path != "/login/code" {
		t.Errorf("after unlock the code request was refused: %d\n%s", h.Status, excerpt(h.Body))
	}

	out, _, err = runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", "+503 7999 0043")
	if err != nil || !strings.Contains(out, "nothing to clear") {
		t.Errorf("unlock of an identifier with nothing counted: %v %q", err, out)
	}
}
