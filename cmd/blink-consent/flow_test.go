//go:build devstack

package main

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// addUser creates a user through the CLI, as an operator would, and returns its id.
func addUser(t testing.TB, st *stack, email string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"DATABASE_URL": st.DatabaseURL}
	err := run(context.Background(), []string{"blink-consent", "users", "add", "--email", email},
		func(k string) string { return env[k] }, &out, &errOut)
	if err != nil {
		t.Fatalf("users add: %v (%s)", err, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	if len(id) != 36 {
		t.Fatalf("users add printed %q, want a uuid", id)
	}
	return id
}

func openStore(t testing.TB, st *stack) *store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestFirstPartyClientWithRememberedLogin(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "first.party@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "offline", "read", "write"}, SkipConsent: true})
	b := newBrowser(t)

	// First flow: the sign-in page is shown; the test signs in through the admin API.
	j := rp.start(b)
	if got := j.Last(); got.URL.Path != "/login" || got.Status != http.StatusOK {
		t.Fatalf("first flow ended on %s %d, want the sign-in page", got.URL.Path, got.Status)
	}
	j = signInAsHydraAdmin(t, st, b, j, subject, true)
	if got := j.Visited("/consent"); got != http.StatusSeeOther {
		t.Fatalf("/consent answered %d for a skip_consent client, want 303 straight on", got)
	}
	tok, claims := rp.tokens(t, j)
	if claims["sub"] != subject {
		t.Errorf("first flow: sub = %v, want %s", claims["sub"], subject)
	}
	if scope, _ := tok.Extra("scope").(string); scope != "openid offline read write" {
		t.Errorf("first flow: scope = %q", scope)
	}

	// Second flow: Hydra remembers the login; no page may be shown at all.
	j = rp.start(b)
	if pages := j.Pages(); len(pages) > 0 {
		t.Fatalf("a remembered login on a skip_consent client showed %s (%d)", pages[0].URL.Path, pages[0].Status)
	}
	if j.Visited("/login") != http.StatusSeeOther || j.Visited("/consent") != http.StatusSeeOther {
		t.Fatalf("expected 303s from /login and /consent, got hops %v", paths(j))
	}
	tok, claims = rp.tokens(t, j)
	if claims["sub"] != subject {
		t.Errorf("remembered flow: sub = %v, want %s", claims["sub"], subject)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Errorf("remembered flow: missing tokens: access %t refresh %t", tok.AccessToken != "", tok.RefreshToken != "")
	}
}

func TestRememberedConsentIsNotAskedAgain(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "remembered.consent@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "read"}})
	b := newBrowser(t)
	j := signInAsHydraAdmin(t, st, b, rp.start(b), subject, true)

	// No consent UI yet: grant it through the admin API with remember, as the
	// consent page will.
	var consentChallenge string
	for _, h := range j.Hops {
		if h.URL.Path == "/consent" {
			consentChallenge = h.URL.Query().Get("consent_challenge")
		}
	}
	if consentChallenge == "" {
		t.Fatalf("a third-party client did not reach /consent: %v", paths(j))
	}
	redirect, err := hydraAdmin(t, st).AcceptConsent(context.Background(), consentChallenge, acceptAll([]string{"openid", "read"}))
	if err != nil {
		t.Fatal(err)
	}
	rp.tokens(t, b.Get(redirect))

	// Hydra now says skip=true for this consent: the service must accept it without a page.
	j = rp.start(b)
	if pages := j.Pages(); len(pages) > 0 {
		t.Fatalf("a remembered consent showed %s (%d)", pages[0].URL.Path, pages[0].Status)
	}
	tok, claims := rp.tokens(t, j)
	if claims["sub"] != subject {
		t.Errorf("sub = %v", claims["sub"])
	}
	if scope, _ := tok.Extra("scope").(string); scope != "openid read" {
		t.Errorf("scope = %q, want the remembered grant", scope)
	}
}

func TestDisabledUserOnRememberedSessionIsRejected(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "disabled@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	rp.tokens(t, signInAsHydraAdmin(t, st, b, rp.start(b), subject, true))

	if err := openStore(t, st).DisableUser(context.Background(), subject); err != nil {
		t.Fatal(err)
	}
	j := rp.start(b)
	if j.Callback == nil {
		t.Fatalf("the flow did not return to the client: %v", paths(j))
	}
	q := j.Callback.Query()
	if q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Fatalf("disabled user: callback %v, want error=access_denied and no code", q)
	}
	// Refused at the login step itself, not accepted there and denied by
	// the consent step later.
	challenge := loginChallenge(t, j)
	if a := testSpy.Accepts(challenge); len(a) != 0 {
		t.Errorf("Hydra accepted the disabled account's remembered sign-in %d time(s)", len(a))
	}
	if n := testSpy.LoginRejects(challenge); n != 1 {
		t.Errorf("Hydra received %d rejects at the login step, want 1", n)
	}
}

func TestDeletedUserOnRememberedSessionIsRejected(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "deleted@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	rp.tokens(t, signInAsHydraAdmin(t, st, b, rp.start(b), subject, true))

	conn, err := pgx.Connect(context.Background(), st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `DELETE FROM users WHERE id = $1`, subject); err != nil {
		t.Fatal(err)
	}
	j := rp.start(b)
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" || j.Callback.Query().Get("code") != "" {
		t.Fatalf("deleted user: want error=access_denied at the client, got %v", paths(j))
	}
}

func TestChallengeProblemsGetAClearPage(t *testing.T) {
	st := testStack
	tests := []struct {
		name, path string
		status     int
		text       string
	}{
		{"login without challenge", "/login", 400, "This sign-in link is incomplete"},
		{"login with empty challenge", "/login?login_challenge=", 400, "This sign-in link is incomplete"},
		{"login with garbage", "/login?login_challenge=garbage", 404, "We do not recognise this sign-in"},
		{"login with markup", "/login?login_challenge=%3Cscript%3E", 404, "We do not recognise this sign-in"},
		{"login with huge challenge", "/login?login_challenge=" + strings.Repeat("a", 9000), 404, "We do not recognise this sign-in"},
		{"consent without challenge", "/consent", 400, "This sign-in link is incomplete"},
		{"consent with garbage", "/consent?consent_challenge=garbage", 404, "We do not recognise this sign-in"},
		{"logout without challenge", "/logout", 400, "This sign-in link is incomplete"},
		{"logout with garbage", "/logout?logout_challenge=garbage", 404, "We do not recognise this sign-in"},
		{"unknown path", "/wp-admin", 404, "Page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newBrowser(t).Get(st.ServiceURL + tt.path).Last()
			if h.Status != tt.status {
				t.Errorf("status %d, want %d", h.Status, tt.status)
			}
			if !strings.Contains(h.Body, tt.text) || !strings.Contains(h.Body, `<html lang="en">`) {
				t.Errorf("page lacks %q:\n%s", tt.text, excerpt(h.Body))
			}
			if strings.Contains(h.Body, "goroutine") || strings.Contains(h.Body, ".go:") {
				t.Errorf("page shows a stack trace")
			}
		})
	}
}

func TestErrorPageInSpanish(t *testing.T) {
	b := newBrowser(t)
	req, _ := http.NewRequest(http.MethodGet, testStack.ServiceURL+"/login?login_challenge=garbage", nil)
	req.Header.Set("Accept-Language", "es-SV,es;q=0.9")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(t, resp)
	if resp.StatusCode != 404 || !strings.Contains(body, "No reconocemos este inicio de sesión") || !strings.Contains(body, `lang="es"`) {
		t.Errorf("Spanish error page: %d\n%s", resp.StatusCode, excerpt(body))
	}
}

func TestUILocalesPickTheLanguage(t *testing.T) {
	st := testStack
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}})
	j := rp.start(newBrowser(t), oauth2.SetAuthURLParam("ui_locales", "es"))
	if last := j.Last(); last.URL.Path != "/login" || !strings.Contains(last.Body, `lang="es"`) {
		t.Errorf("ui_locales=es: the sign-in page is not in Spanish:\n%s", excerpt(last.Body))
	}
}

func TestUsedChallengesGetGone(t *testing.T) {
	st := testStack
	addUser(t, st, "used.challenge@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	j := rp.start(b)
	challenge := loginChallenge(t, j)
	page := requestCode(t, b, j.Last(), url.Values{"method": {"email"}, "email": {"used.challenge@example.com"}}).Last()
	form := codeForm(page, waitCode(t, testSMTP.inbox, "used.challenge@example.com", 1))
	j = b.Post(st.ServiceURL+"/login/code", form)
	var consentChallenge string
	for _, h := range j.Hops {
		if h.URL.Path == "/consent" {
			consentChallenge = h.URL.Query().Get("consent_challenge")
		}
	}
	rp.tokens(t, j)

	// Hydra itself would accept the same challenge again; this service must not.
	for name, h := range map[string]hop{
		"login page again": b.Get(st.ServiceURL + "/login?login_challenge=" + url.QueryEscape(challenge)).Last(),
		"consent again":    b.Get(st.ServiceURL + "/consent?consent_challenge=" + url.QueryEscape(consentChallenge)).Last(),
	} {
		if h.Status != http.StatusGone || !strings.Contains(h.Body, "This sign-in was already completed") {
			t.Errorf("%s: %d\n%s", name, h.Status, excerpt(h.Body))
		}
	}
	// The code form replayed after the sign-in (back button): "already
	// completed, start again", and Hydra is not told twice.
	again := b.Post(st.ServiceURL+"/login/code", form).Last()
	if again.Status != http.StatusGone || !strings.Contains(again.Body, "This sign-in was already completed") || !strings.Contains(again.Body, "Start again") {
		t.Errorf("code form again: %d\n%s", again.Status, excerpt(again.Body))
	}
}

func TestExpiredChallengeGetsGone(t *testing.T) {
	// A stack of its own whose Hydra lets a login request live one second.
	st, err := newTestStack(context.Background(), "expiry", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}})
	b := newBrowser(t)
	challenge := loginChallenge(t, rp.start(b))
	time.Sleep(1500 * time.Millisecond)

	h := b.Get(st.ServiceURL + "/login?login_challenge=" + url.QueryEscape(challenge)).Last()
	if h.Status != http.StatusGone || !strings.Contains(h.Body, "This sign-in has expired") {
		t.Errorf("expired challenge: %d\n%s", h.Status, excerpt(h.Body))
	}
	// The page offers to start the same authorization again, and that works.
	m := regexp.MustCompile(`<a class="button primary" href="([^"]+)">Start again</a>`).FindStringSubmatch(h.Body)
	if m == nil {
		t.Fatalf("the expired page offers no Start again:\n%s", excerpt(h.Body))
	}
	startAgain := html.UnescapeString(m[1])
	if !strings.HasPrefix(startAgain, st.Hydra.PublicURL+"/oauth2/auth?") || !strings.Contains(startAgain, "client_id="+rp.client.ID) {
		t.Errorf("Start again points at %q, want the flow's authorization URL", startAgain)
	}
	again := b.Get(startAgain).Last()
	if again.URL.Path != "/login" || again.Status != http.StatusOK || again.URL.Query().Get("login_challenge") == challenge {
		t.Errorf("Start again: ended on %s %d", again.URL.Path, again.Status)
	}

	// With Hydra down, readiness names it (and stays 200: the replica can still
	// answer with its own page) and pages say the service is unavailable.
	st.Hydra.Stop()
	resp, err := http.Get(st.HealthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"hydra":"unavailable"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("readyz with Hydra down: %d %s", resp.StatusCode, body)
	}
	h = b.Get(st.ServiceURL + "/login?login_challenge=" + url.QueryEscape(challenge)).Last()
	if h.Status != http.StatusServiceUnavailable || !strings.Contains(h.Body, "Sign-in is unavailable right now") {
		t.Errorf("Hydra down: %d\n%s", h.Status, excerpt(h.Body))
	}
}

func TestReadyWhenPostgresAndHydraAnswer(t *testing.T) {
	resp, err := http.Get(testStack.HealthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"hydra":"ok"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
}

func TestOAuthErrorPageShowsHydrasWordsEscaped(t *testing.T) {
	q := url.Values{
		"error":             {"invalid_scope"},
		"error_description": {`<script>alert("x")</script> The requested scope is invalid`},
		"error_hint":        {`<b>foo</b> is not allowed`},
	}
	h := newBrowser(t).Get(testStack.ServiceURL + "/error?" + q.Encode()).Last()
	if h.Status != http.StatusBadRequest {
		t.Errorf("status %d", h.Status)
	}
	for _, want := range []string{
		"The app asked for permissions that do not exist",
		"invalid_scope",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; The requested scope is invalid",
		"&lt;b&gt;foo&lt;/b&gt; is not allowed",
	} {
		if !strings.Contains(h.Body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if strings.Contains(h.Body, "<script>") || strings.Contains(h.Body, "<b>foo") {
		t.Error("error page renders Hydra's text as markup")
	}
}

// An OAuth error raised by Hydra itself reaches /error through a real redirect.
func TestHydraSendsErrorsToTheErrorPage(t *testing.T) {
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}})
	bad := *rp.oauth
	bad.RedirectURL = "http://127.0.0.1:1/not-registered"
	j := newBrowser(t).Get(bad.AuthCodeURL("state-x"))
	last := j.Last()
	if last.URL.Path != "/error" || last.Status != http.StatusBadRequest || !strings.Contains(last.Body, "invalid_request") {
		t.Errorf("unregistered redirect_uri: ended on %s %d\n%s", last.URL.Path, last.Status, excerpt(last.Body))
	}
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}})
	loginPage := rp.start(newBrowser(t)).Last()
	for _, h := range []hop{
		loginPage,
		newBrowser(t).Get(testStack.ServiceURL + "/login").Last(),
		newBrowser(t).Get(testStack.ServiceURL + "/error?error=access_denied").Last(),
		newBrowser(t).Get(testStack.ServiceURL + "/nope").Last(),
	} {
		csp := h.Header.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "script-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", h.URL.Path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline script", h.URL.Path)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", h.URL.Path, k, got, v)
			}
		}
		if strings.Contains(h.Body, "<script>") {
			t.Errorf("%s: inline script in the page", h.URL.Path)
		}
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}})
	b := newBrowser(t)
	page := rp.start(b).Last()
	form := url.Values{"flow": {flowID(t, page)}, "method": {"email"}, "email": {"someone@example.com"}, "action": {"continue"}}
	req, _ := http.NewRequest(http.MethodPost, testStack.ServiceURL+"/login/identify", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "<html") {
		t.Errorf("cross-site POST: %d\n%s", resp.StatusCode, excerpt(body))
	}
}

// The log must never hold a challenge: it is a bearer of the whole flow.
func TestLogsHoldNoChallenges(t *testing.T) {
	st := testStack
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}})
	b := newBrowser(t)
	challenge := loginChallenge(t, rp.start(b))
	b.Get(st.ServiceURL + "/login?login_challenge=" + url.QueryEscape(challenge))
	b.Get(st.ServiceURL + "/login?login_challenge=" + url.QueryEscape(challenge[:40]))
	logs := serviceLog.String()
	if !strings.Contains(logs, "path=/login") {
		t.Fatal("the service log has no request lines; the check below would prove nothing")
	}
	if strings.Contains(logs, challenge[:24]) || strings.Contains(logs, "login_challenge=") {
		t.Error("the service log contains a login challenge")
	}
}

func acceptAll(scopes []string) hydra.AcceptConsent {
	return hydra.AcceptConsent{GrantScope: scopes, Remember: true, RememberFor: 3600}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// BenchmarkRememberedSignInThroughHydra is a whole remembered sign-in on a
// skip_consent client, as a relying party sees it: Hydra's /oauth2/auth, this
// service's /login and /consent, Hydra's redirects and the token exchange,
// all on real PostgreSQL and Hydra over loopback.
func BenchmarkRememberedSignInThroughHydra(b *testing.B) {
	st := testStack
	subject := addUser(b, st, "bench"+strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")+"@example.com")
	rp := newRelyingParty(b, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	br := newBrowser(b)
	rp.tokens(b, signInAsHydraAdmin(b, st, br, rp.start(br), subject, true))
	b.ResetTimer()
	for b.Loop() {
		j := rp.start(br)
		if j.Callback == nil || j.Callback.Query().Get("code") == "" {
			b.Fatalf("the remembered sign-in did not reach the client: %v", paths(j))
		}
	}
}
