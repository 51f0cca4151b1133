//go:build devstack

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// With the bot check on (Turnstile), the phone form shows the widget, the CSP
// allows Turnstile on that page only, and no SMS goes out without a token
// that siteverify accepts. This stack also runs REGISTRATION=none: an unknown
// number gets the same page and no SMS.
func TestBotCheckBeforeSMSAndRegistrationNone(t *testing.T) {
	verify := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("secret") == "turnstile-secret" && r.PostFormValue("response") == "human-token" {
			w.Write([]byte(`{"success":true,"error-codes":[]}`))
			return
		}
		w.Write([]byte(`{"success":false,"error-codes":["invalid-input-response"]}`))
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go verify.Serve(l)
	defer verify.Close()

	st, err := newTestStack(context.Background(), "captcha", 0, map[string]string{
		"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SITE_KEY": "site-key-123", "CAPTCHA_SECRET_KEY": "turnstile-secret",
		"CAPTCHA_VERIFY_URL": "http://" + l.Addr().String() + "/siteverify",
		"REGISTRATION":       "none",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	env := map[string]string{"DATABASE_URL": st.DatabaseURL}
	if err := run(context.Background(), []string{"blink-consent", "users", "add", "--phone", "+50375550101"}, func(k string) string { return env[k] }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	// The sign-in opens on the phone tab; the email tab has no bot check.
	emailPage := b.Get(st.ServiceURL + "/login/identify?flow=" + flowID(t, rp.start(b).Last()) + "&method=email").Last()
	if !strings.Contains(emailPage.Body, `name="email"`) || strings.Contains(emailPage.Body, "cf-turnstile") || strings.Contains(emailPage.Header.Get("Content-Security-Policy"), "challenges.cloudflare.com") {
		t.Error("the email form carries the bot check")
	}
	flow := flowID(t, emailPage)
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	csp := phonePage.Header.Get("Content-Security-Policy")
	if !strings.Contains(phonePage.Body, `data-sitekey="site-key-123"`) || !strings.Contains(csp, "script-src 'self' https://challenges.cloudflare.com") || !strings.Contains(csp, "frame-src https://challenges.cloudflare.com") {
		t.Errorf("the phone form: widget or CSP missing (CSP %q)", csp)
	}
	post := func(token string) hop {
		return postPhone(b, st, flow, "7555 0101", token)
	}
	for _, token := range []string{"", "bot-token"} {
		if h := post(token); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "Please complete the check that you are not a robot.") {
			t.Errorf("token %q: %d", token, h.Status)
		}
	}
	if h := post("human-token"); h.URL.Path != "/login/code" {
		t.Errorf("a solved check: ended on %s %d", h.URL.Path, h.Status)
	}
	if _, err := testTwilio.wait("+50375550101", 1); err != nil {
		t.Error(err)
	}
	if n := len(testTwilio.all("+50375550101")); n != 1 {
		t.Errorf("%d SMS sent, want 1 (only after the solved check)", n)
	}

	// "Send a new code" to a phone passes the same check (finding 6): the code
	// page carries the widget, and no SMS goes without a solved check.
	codePage := b.Get(st.ServiceURL + "/login/code?flow=" + flow).Last()
	if !strings.Contains(codePage.Body, `data-sitekey="site-key-123"`) || !strings.Contains(codePage.Header.Get("Content-Security-Policy"), "frame-src https://challenges.cloudflare.com") {
		t.Errorf("the phone code page lacks the bot check for a new code")
	}
	execOn(t, st, `UPDATE login_flows SET last_sent_at = now() - interval '31 seconds' WHERE id::text = $1`, flow)
	resend := func(token string) hop {
		form := url.Values{"flow": {flow}, "action": {"resend"}}
		if token != "" {
			form.Set("cf-turnstile-response", token)
		}
		return b.Post(st.ServiceURL+"/login/code", form).Last()
	}
	for _, token := range []string{"", "bot-token"} {
		if h := resend(token); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "Please complete the check that you are not a robot.") {
			t.Errorf("a new code with token %q: %d", token, h.Status)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(testTwilio.all("+50375550101")); n != 1 {
		t.Errorf("%d SMS sent after unsolved checks, want still 1", n)
	}
	if h := resend("human-token"); h.URL.Path != "/login/code" || h.Status != http.StatusOK {
		t.Errorf("a new code with a solved check: %s %d", h.URL.Path, h.Status)
	}
	if _, err := testTwilio.wait("+50375550101", 2); err != nil {
		t.Error(err)
	}

	// REGISTRATION=none: an unknown number gets the code page, but no SMS and no account.
	other := newBrowser(t)
	unknownPage := postPhone(other, st, flowID(t, rp.start(other).Last()), "7555 0202", "human-token")
	if unknownPage.URL.Path != "/login/code" || !strings.Contains(unknownPage.Body, "•••• 0202") {
		t.Errorf("an unknown number: %s %d", unknownPage.URL.Path, unknownPage.Status)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(testTwilio.all("+50375550202")); n != 0 {
		t.Errorf("%d SMS went to an unknown number with REGISTRATION=none", n)
	}
}

// execOn runs SQL against st's database.
func execOn(t testing.TB, st *stack, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func postPhone(b *browser, st *stack, flow, phone, token string) hop {
	form := url.Values{"flow": {flow}, "action": {"continue"}, "method": {"phone"}, "country": {"SV"}, "phone": {phone}, "channel": {"sms"}}
	if token != "" {
		form.Set("cf-turnstile-response", token)
	}
	return b.Post(st.ServiceURL+"/login/identify", form).Last()
}
