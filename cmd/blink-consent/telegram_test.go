//go:build devstack

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// Telegram Passport on the real Hydra and PostgreSQL through core's
// stand-in (issue 16, item 5). The flow lives in login_flows like any other
// (channel telegram, core's request sealed in source_state); "Check" is one
// step of it; each pending answer counts against the request's checks, never
// against the failure limits; core's refusals read as our own words.

var telegramNonceAttr = regexp.MustCompile(`data-nonce="([^"]+)"`)

// telegramStart asks for a Telegram sign-in of phone (a US number: the
// stand-in's US offers Telegram) and returns the Telegram page.
func telegramStart(t *testing.T, st *stack, b *browser, rp *relyingParty, phone string, opts ...oauth2.AuthCodeOption) hop {
	t.Helper()
	flow := flowID(t, rp.start(b, opts...).Last())
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	if !strings.Contains(phonePage.Body, `value="telegram"`) {
		t.Fatalf("the phone form offers no Telegram:\n%s", excerpt(phonePage.Body))
	}
	page := blinkIdentify(t, st, b, phonePage, url.Values{"method": {"phone"}, "country": {"US"}, "phone": {strings.TrimPrefix(phone, "+1")}, "channel": {"telegram"}})
	if page.URL.Path != "/login/telegram" || page.Status != http.StatusOK {
		t.Fatalf("a Telegram sign-in ended on %s %d:\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	return page
}

func telegramCheck(st *stack, b *browser, page hop) journey {
	return b.Post(st.ServiceURL+"/login/telegram", url.Values{"flow": {flowID(b.t, page)}, "action": {"check"}})
}

func TestBlinkTelegramPassportSignsInAPhone(t *testing.T) {
	st, core := cutoverStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	const phone = "+12015550141"
	b := newBrowser(t)
	page := telegramStart(t, st, b, rp, phone)
	flow := flowID(t, page)
	nonce := core.TelegramNonce(phone)
	if nonce == "" || !strings.Contains(page.Body, `data-nonce="`+nonce+`"`) || !strings.Contains(page.Body, `data-bot-id="`+corestandin.TelegramBotID+`"`) {
		t.Fatalf("the Telegram page lacks core's request (nonce %q):\n%s", nonce, excerpt(page.Body))
	}
	if csp := page.Header.Get("Content-Security-Policy"); !cspAllows(csp, "script-src", cutover.scripts.URL) || !cspAllows(csp, "frame-src", "tg:") {
		t.Errorf("the Telegram page's CSP does not allow Telegram's script and link: %q", csp)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND channel = 'telegram' AND identifier = $2
		AND source_state IS NOT NULL AND position($3::bytea IN source_state) = 0`, flow, phone, []byte(nonce)); n != 1 {
		t.Error("the flow does not keep core's request sealed in PostgreSQL")
	}

	// Before Telegram confirms: a waiting page, one check counted, no failure.
	waiting := telegramCheck(st, b, page).Last()
	if waiting.Status != http.StatusOK || !strings.Contains(waiting.Body, "Telegram has not confirmed yet") || !strings.Contains(waiting.Body, `data-check-in="5"`) {
		t.Errorf("a pending check: %d\n%s", waiting.Status, excerpt(waiting.Body))
	}
	if n := queryIntOn(t, st, `SELECT code_attempts FROM login_flows WHERE id::text = $1 AND verified_at IS NULL`, flow); n != 1 {
		t.Errorf("a pending check counted %d tries, want 1", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket LIKE 'fail-%' AND key IN ($1, $2)`, phone, b.IP); n != 0 {
		t.Errorf("a pending check was recorded as %d failures", n)
	}

	// Telegram's webhook confirms the nonce: the next check signs in.
	if !core.AuthorizeTelegram(nonce, phone) {
		t.Fatal("the stand-in did not know the nonce")
	}
	_, claims := rp.tokens(t, telegramCheck(st, b, waiting))
	id := core.Lookup(phone)
	if id == "" || claims["sub"] != id || claims["phone_number"] != phone || claims["phone_number_verified"] != true || fmt.Sprint(claims["amr"]) != "[telegram]" {
		t.Errorf("a Telegram sign-in: core id %q, claims %v", id, claims)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND completed_at IS NOT NULL AND source_state IS NULL`, flow); n != 1 {
		t.Error("the completed flow still keeps core's request")
	}
	// The nonce was single use: posting the check again changes nothing.
	if again := telegramCheck(st, b, page).Last(); again.Status != http.StatusGone {
		t.Errorf("a check of a completed flow: %d", again.Status)
	}
}

func TestBlinkTelegramPassportRefusalsHaveTheirOwnWords(t *testing.T) {
	st, core := cutoverStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})

	// Telegram confirmed another phone number.
	b := newBrowser(t)
	page := telegramStart(t, st, b, rp, "+12015550142")
	core.AuthorizeTelegram(core.TelegramNonce("+12015550142"), "+12015550199")
	if h := telegramCheck(st, b, page).Last(); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "not the one you entered") {
		t.Errorf("another phone confirmed: %d\n%s", h.Status, excerpt(h.Body))
	}

	// The request was used elsewhere (core's nonce is single use), in Spanish.
	b = newBrowser(t)
	page = telegramStart(t, st, b, rp, "+12015550143", oauth2.SetAuthURLParam("ui_locales", "es"))
	if !strings.Contains(page.Body, "Confirma en Telegram") {
		t.Errorf("the Spanish Telegram page:\n%s", excerpt(page.Body))
	}
	nonce := core.TelegramNonce("+12015550143")
	core.AuthorizeTelegram(nonce, "+12015550143")
	req, _ := http.NewRequest(http.MethodPost, core.AuthURL()+"/telegram-passport/login",
		bytes.NewReader([]byte(`{"nonce":"`+nonce+`","phone":"+12015550143"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Real-IP", "192.0.2.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("using the nonce at core: %v %v", err, resp)
	}
	resp.Body.Close()
	if h := telegramCheck(st, b, page).Last(); h.Status != http.StatusGone || !strings.Contains(h.Body, "caducó o ya se usó") || !strings.Contains(h.Body, `value="retry"`) {
		t.Errorf("a used nonce: %d\n%s", h.Status, excerpt(h.Body))
	}

	// Telegram Passport switched off at core.
	core.SetTelegramDisabled(true)
	b = newBrowser(t)
	flow := flowID(t, rp.start(b).Last())
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	h := blinkIdentify(t, st, b, phonePage, url.Values{"method": {"phone"}, "country": {"US"}, "phone": {"2015550144"}, "channel": {"telegram"}})
	core.SetTelegramDisabled(false)
	if h.Status != http.StatusServiceUnavailable || !strings.Contains(h.Body, "Sign-in with Telegram is not available right now") {
		t.Errorf("Telegram disabled at core: %d\n%s", h.Status, excerpt(h.Body))
	}

	// A country without Telegram is refused without asking core.
	requests := func() int { return countCalls(core, "/auth/telegram-passport/request-params") }
	before := requests()
	h = blinkIdentify(t, st, b, phonePage, url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7555 0707"}, "channel": {"telegram"}})
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "Telegram is not available for numbers of this country") || requests() != before {
		t.Errorf("Telegram for a country without it: %d, core asked %d times", h.Status, requests()-before)
	}
}

// Pending answers are bounded: after TelegramChecks checks of one request
// the page says Telegram did not confirm in time and offers a new request.
func TestBlinkTelegramPassportChecksAreBounded(t *testing.T) {
	st, core := cutoverStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	b := newBrowser(t)
	page := telegramStart(t, st, b, rp, "+12015550145")
	asked := func() int { return countCalls(core, "/auth/telegram-passport/login") }
	start := asked()
	var h hop
	for i := 0; i < 7; i++ {
		h = telegramCheck(st, b, page).Last()
	}
	if !strings.Contains(h.Body, "did not confirm this sign-in in time") || !strings.Contains(h.Body, `value="retry"`) {
		t.Errorf("the seventh check: %d\n%s", h.Status, excerpt(h.Body))
	}
	if n := asked() - start; n != 6 {
		t.Errorf("core was asked %d times for one request, want 6", n)
	}
}

// A Telegram sign-in of an account with an authenticator goes on to the
// authenticator step, as for phone codes.
func TestBlinkTelegramPassportThenAuthenticator(t *testing.T) {
	st, core := cutoverStack(t)
	const phone = "+12015550146"
	id := core.AddIdentity("", phone)
	secret := core.EnrolTOTP(id)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	b := newBrowser(t)
	page := telegramStart(t, st, b, rp, phone)
	core.AuthorizeTelegram(core.TelegramNonce(phone), phone)
	totpPage := telegramCheck(st, b, page).Last()
	if totpPage.URL.Path != "/login/totp" {
		t.Fatalf("a two-step account after Telegram: %s %d\n%s", totpPage.URL.Path, totpPage.Status, excerpt(totpPage.Body))
	}
	_, claims := rp.tokens(t, b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, totpPage)}, "code": {corestandin.TOTPCode(secret, time.Now())}, "action": {"continue"}}))
	if claims["sub"] != id || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[telegram totp mfa]" {
		t.Errorf("claims %v, want sub %s with two steps", claims, id)
	}
}

// countCalls is how many requests to path the stand-in answered.
func countCalls(core *corestandin.Standin, path string) int {
	n := 0
	for _, c := range core.Calls() {
		if c.Path == path {
			n++
		}
	}
	return n
}
