//go:build devstack

package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// IDENTITY_SOURCE=blink on the real Hydra and PostgreSQL, against the
// wire-format stand-in of Blink core: existing email accounts, new phone
// numbers and TOTP accounts sign in and get tokens whose sub is core's id.

var blink struct {
	once sync.Once
	core *corestandin.Standin
	st   *stack
	err  error
}

// blinkStack starts (once) a stand-in of Blink core and a stack of this
// service in blink mode pointing at it.
func blinkStack(t *testing.T) (*stack, *corestandin.Standin) {
	t.Helper()
	blink.once.Do(func() {
		blink.core, blink.err = corestandin.Start("127.0.0.1:0")
		if blink.err != nil {
			return
		}
		blink.core.RequireGeetestAnswer(true)
		blink.st, blink.err = newTestStack(context.Background(), "blink", 0, map[string]string{
			"IDENTITY_SOURCE":    "blink",
			"CORE_AUTH_URL":      blink.core.AuthURL(),
			"GRAPHQL_ENDPOINT":   blink.core.GraphQLURL(),
			"GEETEST_SCRIPT_URL": blink.core.GeetestScriptURL(),
			"ACCOUNT_CLIENT_ID":  blinkAccountClientID,
			// The page itself is not used on this stack: its tests register
			// the client as a relying party of their own (account_token_test.go).
			"ACCOUNT_CLIENT_SECRET": "unused-by-the-blink-stack",
		})
	})
	if blink.err != nil {
		t.Fatalf("the blink-mode stack: %v", blink.err)
	}
	return blink.st, blink.core
}

func blinkIdentify(t *testing.T, st *stack, b *browser, page hop, fields url.Values) hop {
	t.Helper()
	form := url.Values{"flow": {flowID(t, page)}, "action": {"continue"}}
	for k, v := range fields {
		form[k] = v
	}
	return b.Post(st.ServiceURL+"/login/identify", form).Last()
}

func blinkCode(st *stack, b *browser, page hop, code string) journey {
	return b.Post(st.ServiceURL+"/login/code", codeForm(page, code))
}

func TestBlinkEmailSignIn(t *testing.T) {
	st, core := blinkStack(t)
	id := core.AddIdentity("blink.email@example.com", "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	_, before := scrape(t, st)
	codePage := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {"blink.email@example.com"}})
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	flow := flowID(t, codePage)
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NOT NULL`, flow); n != 1 {
		t.Error("the flow does not keep core's emailLoginId")
	}
	wrongAnswer(t, blinkCode(st, b, codePage, otherCode(core.Code("blink.email@example.com"))), "a wrong code from core")
	_, claims := rp.tokens(t, blinkCode(st, b, codePage, core.Code("blink.email@example.com")))
	if claims["sub"] != id || claims["email"] != "blink.email@example.com" || claims["email_verified"] != true ||
		claims["acr"] != "1" || fmt.Sprint(claims["amr"]) != "[otp email]" {
		t.Errorf("claims %v, want sub %s", claims, id)
	}
	_, after := scrape(t, st)
	for _, call := range []map[string]string{
		{"operation": "email_code", "outcome": "ok"},
		{"operation": "email_login", "outcome": "refused"}, // the wrong code
		{"operation": "email_login", "outcome": "ok"},
	} {
		const name = "blink_consent_core_request_duration_seconds"
		if moved := sample(after, name, call) - sample(before, name, call); moved < 1 {
			t.Errorf("no call to core timed as %v", call)
		}
	}
	if !contains(core.SeenIPs(), b.IP) {
		t.Errorf("core never saw the client's IP %s as X-Real-IP: %v", b.IP, core.SeenIPs())
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM users WHERE id::text = $1 AND email = 'blink.email@example.com'`, id); n != 1 {
		t.Error("the account's claims were not kept for remembered sign-ins")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NULL AND completed_at IS NOT NULL`, flow); n != 1 {
		t.Error("the completed flow still keeps core's state")
	}
}

func TestBlinkTOTPSignInKeepsRememberAndTheTokenServerSide(t *testing.T) {
	st, core := blinkStack(t)
	id := core.AddIdentity("blink.totp@example.com", "")
	secret := core.EnrolTOTP(id)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	codePage := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {"blink.totp@example.com"}, "remember": {"true"}})
	j := blinkCode(st, b, codePage, core.Code("blink.totp@example.com"))
	totpPage := j.Last()
	if totpPage.URL.Path != "/login/totp" || totpPage.Status != http.StatusOK {
		t.Fatalf("after the email code: %v", paths(j))
	}
	flow := flowID(t, totpPage)
	// Lost the app? With Blink core there are no recovery codes here: the
	// step says what to tell Blink support and links to it.
	if !strings.Contains(totpPage.Body, html.EscapeString(i18n.English.T("login.totp.support.body"))) || !strings.Contains(totpPage.Body, `href="`+testSupportURL+`"`) ||
		strings.Contains(totpPage.Body, `name="recovery_code"`) {
		t.Errorf("the blink authenticator step's lost-app help:\n%s", excerpt(totpPage.Body))
	}
	if h := b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flow}, "recovery_code": {"aaaa-bbbb-cccc-dddd"}, "action": {"recovery"}}).Last(); h.Status != http.StatusBadRequest {
		t.Errorf("a recovery code in blink mode: %d, want 400", h.Status)
	}
	for _, h := range j.Hops {
		if strings.Contains(h.Body, "ory_st_") || strings.Contains(strings.Join(h.Header.Values("Set-Cookie"), ";"), "ory_st_") {
			t.Fatal("core's auth token reached the browser")
		}
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NOT NULL
		AND position('ory_st_' in encode(source_state, 'escape')) = 0`, flow); n != 1 {
		t.Error("the auth token is not kept sealed in the flow row")
	}
	if h := b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flow}, "code": {otherCode(corestandin.TOTPCode(secret, time.Now()))}, "action": {"continue"}}).Last(); h.Status != http.StatusUnprocessableEntity {
		t.Errorf("a wrong authenticator code: %d", h.Status)
	}
	_, claims := rp.tokens(t, b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flow}, "code": {corestandin.TOTPCode(secret, time.Now())}, "action": {"continue"}}))
	if claims["sub"] != id || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[otp email totp mfa]" {
		t.Errorf("claims %v, want sub %s, acr 2", claims, id)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NULL`, flow); n != 1 {
		t.Error("the auth token outlived the authenticator step")
	}
	// "Remember me" survived the second step (apps/consent loses it), and the
	// remembered sign-in still says two steps.
	again := rp.start(b)
	if len(again.Pages()) != 0 || again.Callback == nil {
		t.Fatalf("the next sign-in was not remembered: %v", paths(again))
	}
	if _, claims := rp.tokens(t, again); claims["sub"] != id || claims["acr"] != "2" {
		t.Errorf("remembered claims %v", claims)
	}
}

var geetestChallenge = regexp.MustCompile(`data-challenge="([^"]+)"`)

// geetestAnswer solves the stand-in's Geetest as its gt.js does in a browser.
func geetestAnswer(challenge string) url.Values {
	validate, seccode := corestandin.GeetestAnswer(challenge)
	return url.Values{"geetest_challenge": {challenge}, "geetest_validate": {validate}, "geetest_seccode": {seccode}}
}

func TestBlinkPhoneSignInWithGeetestRegisters(t *testing.T) {
	st, core := blinkStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	b := newBrowser(t)
	flow := flowID(t, rp.start(b).Last())
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	m := geetestChallenge.FindStringSubmatch(phonePage.Body)
	if m == nil || !strings.Contains(phonePage.Body, core.GeetestScriptURL()) {
		t.Fatalf("the phone page carries no Geetest challenge or script:\n%s", excerpt(phonePage.Body))
	}
	csp := phonePage.Header.Get("Content-Security-Policy")
	if origin := strings.TrimSuffix(core.URL(), "/"); !strings.Contains(csp, "script-src 'self' "+origin) {
		t.Errorf("the phone page's CSP does not allow Geetest's origin %s: %q", origin, csp)
	}
	if other := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=email").Last(); strings.Contains(other.Header.Get("Content-Security-Policy"), core.URL()) {
		t.Error("the email page's CSP allows Geetest too")
	}
	fields := url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7555 0303"}, "channel": {"sms"}}
	if h := blinkIdentify(t, st, b, phonePage, fields); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "Please complete the check that you are not a robot.") {
		t.Errorf("a phone form without Geetest's answer: %d", h.Status)
	}
	if core.Lookup("+50375550303") != "" {
		t.Fatal("core created an account without a passed captcha")
	}
	// An answer Geetest (core) does not accept reads as our own message too.
	fields.Set("geetest_challenge", m[1])
	fields.Set("geetest_validate", "forged")
	fields.Set("geetest_seccode", "forged|jordan")
	if h := blinkIdentify(t, st, b, phonePage, fields); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "Please complete the check that you are not a robot.") {
		t.Errorf("a forged Geetest answer: %d\n%s", h.Status, excerpt(h.Body))
	}
	// Each phone form carries a fresh challenge: solve the one on the page.
	phonePage = b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	if m = geetestChallenge.FindStringSubmatch(phonePage.Body); m == nil {
		t.Fatal("no Geetest challenge on the phone page")
	}
	for k, v := range geetestAnswer(m[1]) {
		fields[k] = v
	}
	codePage := blinkIdentify(t, st, b, phonePage, fields)
	if codePage.URL.Path != "/login/code" {
		t.Fatalf("with Geetest's answer: %s %d\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	_, claims := rp.tokens(t, blinkCode(st, b, codePage, core.Code("+50375550303")))
	id := core.Lookup("+50375550303")
	if id == "" || claims["sub"] != id || claims["phone_number"] != "+50375550303" || fmt.Sprint(claims["amr"]) != "[otp sms]" {
		t.Errorf("a new number: core id %q, claims %v", id, claims)
	}
}

func TestBlinkCoreDownIsA503(t *testing.T) {
	st, core := blinkStack(t)
	core.AddIdentity("blink.down@example.com", "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	page := rp.start(b).Last()
	core.Down(true)
	defer core.Down(false)
	h := blinkIdentify(t, st, b, page, url.Values{"method": {"email"}, "email": {"blink.down@example.com"}})
	if h.Status != http.StatusServiceUnavailable || !strings.Contains(h.Body, "Sign-in is unavailable right now") {
		t.Errorf("core down: %d\n%s", h.Status, excerpt(h.Body))
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND sends = 0`, flowID(t, page)); n != 1 {
		t.Error("a send core never took was counted")
	}
	resp, err := http.Get(st.HealthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"blink_core":"unavailable"`) {
		t.Errorf("/readyz with core down: %d %s, want 200 naming blink_core", resp.StatusCode, body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Core's refusals read as our own messages on the real stack: its limit
// becomes the 429 page, a refused registration a message next to the field.
func TestBlinkCoreRefusals(t *testing.T) {
	st, core := blinkStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})

	core.DenyOnboardingPhone("+50375550505")
	b := newBrowser(t)
	flow := flowID(t, rp.start(b).Last())
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	m := geetestChallenge.FindStringSubmatch(phonePage.Body)
	if m == nil {
		t.Fatal("no Geetest challenge on the phone page")
	}
	fields := url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7555 0505"}, "channel": {"sms"}}
	for k, v := range geetestAnswer(m[1]) {
		fields[k] = v
	}
	codePage := blinkIdentify(t, st, b, phonePage, fields)
	if codePage.URL.Path != "/login/code" {
		t.Fatalf("a number core will refuse to register still gets its code: %s %d", codePage.URL.Path, codePage.Status)
	}
	h := blinkCode(st, b, codePage, core.Code("+50375550505")).Last()
	if h.Status != http.StatusForbidden || !strings.Contains(h.Body, "This number cannot open a Blink account here") ||
		!strings.Contains(h.Body, "Start again") || core.Lookup("+50375550505") != "" {
		t.Fatalf("a refused registration: %d\n%s", h.Status, excerpt(h.Body))
	}
	if strings.Contains(h.Body, "not allowed to onboard") || strings.Contains(h.Body, "Unknown error") {
		t.Errorf("core's own text reached the page:\n%s", excerpt(h.Body))
	}

	email := "blink.limit@example.com"
	core.AddIdentity(email, "")
	limits := corestandin.DefaultLimits()
	limits.CodeRequestPerIdentifier = corestandin.Limit{Points: 1, Window: time.Hour, Block: time.Hour}
	core.SetLimits(limits)
	defer core.SetLimits(corestandin.DefaultLimits())
	b2 := newBrowser(t)
	first := blinkIdentify(t, st, b2, rp.start(b2).Last(), url.Values{"method": {"email"}, "email": {email}})
	if first.URL.Path != "/login/code" {
		t.Fatalf("the first code: %s %d", first.URL.Path, first.Status)
	}
	b3 := newBrowser(t)
	second := blinkIdentify(t, st, b3, rp.start(b3).Last(), url.Values{"method": {"email"}, "email": {email}})
	if !isTooMany(second) || strings.Contains(second.Body, "Unknown error") {
		t.Errorf("core's limit: %d, want our 429 page\n%s", second.Status, excerpt(second.Body))
	}
}

// With Blink core the code page warns too, two of core's 8 tries before the
// end (issue 17 item 1): the count is the flow's, as the store keeps it.
func TestBlinkWrongCodesWarnTwoTriesBefore(t *testing.T) {
	st, core := blinkStack(t)
	core.AddIdentity("blink.tries@example.com", "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	codePage := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {"blink.tries@example.com"}})
	for i := 1; i <= 7; i++ {
		// Not six digits: counted as a wrong try without asking core.
		h := blinkCode(st, b, codePage, "12345").Last()
		warned := strings.Contains(h.Body, "left for this code")
		switch {
		case i < 6 && warned:
			t.Errorf("wrong code %d already warns", i)
		case i == 6 && !strings.Contains(h.Body, "2 tries left for this code; after that, send a new one."),
			i == 7 && !strings.Contains(h.Body, "1 try left for this code; after that, send a new one."):
			t.Errorf("wrong code %d: %d, no warning of the tries left\n%s", i, h.Status, excerpt(h.Body))
		}
		if n := queryIntOn(t, st, `SELECT code_attempts FROM login_flows WHERE id::text = $1`, flowID(t, codePage)); n != i {
			t.Errorf("after wrong code %d the flow counts %d tries", i, n)
		}
	}
}
