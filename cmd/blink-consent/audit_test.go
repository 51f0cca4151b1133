//go:build devstack

package main

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// auditRows counts a user's audit rows matching the condition.
func auditRows(t *testing.T, subject, cond string, args ...any) int {
	t.Helper()
	return queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND `+cond, append([]any{subject}, args...)...)
}

// signInToConsent asks for a code, types wrong first when given, then the
// right code, and returns the page it ends on (the consent page of a
// third-party client).
func signInToConsent(t *testing.T, rp *relyingParty, b *browser, email, wrong string) hop {
	t.Helper()
	before := codeCount(testSMTP.inbox, email)
	codePage := requestCode(t, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}}).Last()
	code := waitCode(t, testSMTP.inbox, email, before+1)
	if wrong != "" {
		if wrong == code {
			wrong = "999999"
		}
		if got := submitCode(b, codePage, wrong).Last(); got.Status != http.StatusUnprocessableEntity {
			t.Fatalf("a wrong code answered %s %d", got.URL.Path, got.Status)
		}
	}
	page := submitCode(b, codePage, code).Last()
	if page.URL.Path != "/consent" || page.Status != http.StatusOK {
		t.Fatalf("after the code: %s %d", page.URL.Path, page.Status)
	}
	return page
}

func TestAuditTrailRecordsSecurityEvents(t *testing.T) {
	const email = "audit.trail@example.com"
	subject := addUser(t, testStack, email)
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid", "read"}})
	client := rp.client.ID

	// A wrong code, the right one, consent granted.
	b := newBrowser(t)
	page := signInToConsent(t, rp, b, email, "000000")
	rp.tokens(t, b.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{"action": {"allow"}, "scope": {"openid", "read"}})))
	if n := auditRows(t, subject, `action = 'sign-in failed' AND actor = 'user' AND client_id = $2 AND ip = $3 AND method = 'email' AND result = 'wrong'
		AND details->>'identifier' = 'a•••@example.com'`, client, b.IP); n != 1 {
		t.Errorf("%d 'sign-in failed' rows, want 1", n)
	}
	if n := auditRows(t, subject, `action = 'sign-in succeeded' AND client_id = $2 AND ip = $3 AND method = 'email' AND result = 'ok'`, client, b.IP); n != 1 {
		t.Errorf("%d 'sign-in succeeded' rows, want 1", n)
	}
	if n := auditRows(t, subject, `action = 'consent granted' AND client_id = $2 AND ip = $3 AND result = 'granted'
		AND details->'scopes' = '["openid", "read"]'::jsonb`, client, b.IP); n != 1 {
		t.Errorf("%d 'consent granted' rows, want 1", n)
	}

	// Another browser: consent denied.
	b2 := newBrowser(t)
	page = signInToConsent(t, rp, b2, email, "")
	b2.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{"action": {"deny"}}))
	if n := auditRows(t, subject, `action = 'consent denied' AND client_id = $2 AND ip = $3 AND result = 'denied'`, client, b2.IP); n != 1 {
		t.Errorf("%d 'consent denied' rows, want 1", n)
	}

	// The failure that reaches the identity limit locks it, once.
	exec(t, `INSERT INTO identity_failures (identifier, failures) VALUES ($1, 99)`, email)
	b3 := newBrowser(t)
	before := codeCount(testSMTP.inbox, email)
	codePage := requestCode(t, b3, rp.start(b3).Last(), url.Values{"method": {"email"}, "email": {email}}).Last()
	code := waitCode(t, testSMTP.inbox, email, before+1)
	for i := range 2 {
		submitCode(b3, codePage, code+"0") // never right
		if n := auditRows(t, subject, `action = 'identifier locked' AND actor = 'system' AND ip = $2 AND client_id = $3`, b3.IP, client); n != 1 {
			t.Errorf("after failure %d at the limit: %d 'identifier locked' rows, want 1", i+1, n)
		}
	}
	if _, _, err := runCLI(t, operatorEnv(""), "users", "unlock", "--identifier", email); err != nil {
		t.Fatal(err)
	}
	secret := importTOTP(t, subject)
	if auditRows(t, subject, `action = 'totp imported' AND actor = 'cli' AND method = 'totp'`) != 1 {
		t.Error("the TOTP import is not audited")
	}
	// The second step: a wrong authenticator code, then the right one.
	totpRP, b4, totpStep := totpPage(t, email, false)
	wrong := "000000"
	if totp.Code(secret, time.Now()) == wrong {
		wrong = "111111"
	}
	submitTOTP(b4, totpStep, wrong)
	totpRP.tokens(t, submitTOTP(b4, totpStep, totp.Code(secret, time.Now())))
	if n := auditRows(t, subject, `action = 'sign-in failed' AND method = 'totp' AND result = 'wrong' AND ip = $2 AND client_id = $3`, b4.IP, totpRP.client.ID); n != 1 {
		t.Errorf("%d failed authenticator code rows, want 1", n)
	}
	if n := auditRows(t, subject, `action = 'sign-in succeeded' AND method = 'email+totp' AND details->>'acr' = '2' AND ip = $2`, b4.IP); n != 1 {
		t.Errorf("%d two-step sign-in rows, want 1", n)
	}

	// What support reads: every event, the IP masked.
	out, errOut, err := runCLI(t, operatorEnv(""), "audit", "--user", subject, "--since", "1h")
	if err != nil {
		t.Fatalf("audit: %v %s", err, errOut)
	}
	masked := b.IP[:strings.LastIndex(b.IP, ".")] + ".0/24"
	for _, want := range []string{"TIME", "sign-in failed", "sign-in succeeded", "consent granted", "consent denied",
		"identifier locked", "identifier unlocked", "totp imported", client, masked, "wrong", "email"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit output lacks %q:\n%s", want, out)
		}
	}
	for _, ip := range []string{b.IP, b2.IP, b3.IP} {
		if strings.Contains(out, ip+" ") || net.ParseIP(ip) == nil {
			t.Errorf("audit output shows the full IP %s:\n%s", ip, out)
		}
	}
	if strings.Index(out, "sign-in failed") > strings.Index(out, "consent denied") {
		t.Errorf("events not oldest first:\n%s", out)
	}
	// Days, as support says them.
	if week, _, err := runCLI(t, operatorEnv(""), "audit", "--user", subject, "--since", "7d"); err != nil || week != out {
		t.Errorf("audit --since 7d: %v\n%s\nwant the same events as --since 1h:\n%s", err, week, out)
	}
	if out, _, err := runCLI(t, operatorEnv(""), "audit", "--user", subject, "--since", "1ms"); err != nil || !strings.Contains(out, "no events") {
		t.Errorf("audit --since 1ms: %v %q", err, out)
	}
	for _, args := range [][]string{{"audit"}, {"audit", "--user", subject, "--since", "soon"}, {"audit", "--user", subject, "--since", "-1h"},
		{"audit", "--user", subject, "--since", "0d"}, {"audit", "--user", subject, "--since", "1.5d"}} {
		if _, _, err := runCLI(t, operatorEnv(""), args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
