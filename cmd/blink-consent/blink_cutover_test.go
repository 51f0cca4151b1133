//go:build devstack

package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// What Blink's users meet on the day of the switch from apps/consent: core's
// answers as core gives them (through the stand-in, which answers as core
// behind oathkeeper does), read as our own messages in both languages.

// blinkPhoneCodePage opens a phone sign-in on the blink stack and asks core
// for a code to phone (a Salvadoran number, 8 digits), answering Geetest.
func blinkPhoneCodePage(t *testing.T, st *stack, b *browser, rp *relyingParty, phone string) hop {
	t.Helper()
	flow := flowID(t, rp.start(b).Last())
	page := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	m := geetestChallenge.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no Geetest challenge on the phone page:\n%s", excerpt(page.Body))
	}
	fields := url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {phone}, "channel": {"sms"}}
	for k, v := range geetestAnswer(m[1]) {
		fields[k] = v
	}
	return blinkIdentify(t, st, b, page, fields)
}

// Core answers an expired (or used) verification with 401 "Invalid or
// incorrect phone entered.": the code page says the code expired, in the
// user's language, and a new code signs in.
func TestBlinkExpiredPhoneCodeAsksForANewOne(t *testing.T) {
	st, core := blinkStack(t)
	core.SetPhoneCode("")
	defer core.SetPhoneCode(corestandin.DefaultPhoneCode)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})

	for _, c := range []struct{ lang, phone, text string }{
		{"en", "7555 0711", "This code has expired or was already used — send a new one."},
		{"es", "7555 0712", "Este código caducó o ya se usó: pide uno nuevo."},
	} {
		b := newBrowser(t)
		b.Lang = c.lang
		codePage := blinkPhoneCodePage(t, st, b, rp, c.phone)
		if codePage.URL.Path != "/login/code" {
			t.Fatalf("%s: asking for a code: %s %d\n%s", c.lang, codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
		}
		e164 := "+503" + strings.ReplaceAll(c.phone, " ", "")
		first := core.Code(e164)
		// Twilio Verify's codes live 10 minutes; our sign-in lasts 30.
		later := time.Now().Add(corestandin.PhoneCodeLifetime + time.Minute)
		core.SetClock(func() time.Time { return later })
		h := blinkCode(st, b, codePage, first).Last()
		core.SetClock(time.Now)
		if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, c.text) || !strings.Contains(h.Body, `value="resend"`) {
			t.Fatalf("%s: an expired verification: %d\n%s", c.lang, h.Status, excerpt(h.Body))
		}
		if strings.Contains(h.Body, "Invalid or incorrect") || h.Status == http.StatusServiceUnavailable {
			t.Errorf("%s: core's text or the unavailable page reached the user", c.lang)
		}
		flow := flowID(t, codePage)
		if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NULL`, flow); n != 1 {
			t.Fatal("the flow moved on after an expired code")
		}

		// "Send a new code" (past our cooldown) carries Geetest's answer; the new code signs in.
		sqlExec(t, st.DatabaseURL, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE id::text = $1`, flow)
		m := geetestChallenge.FindStringSubmatch(h.Body)
		if m == nil {
			t.Fatalf("%s: the code page carries no Geetest challenge for a new code", c.lang)
		}
		resend := url.Values{"flow": {flow}, "action": {"resend"}}
		for k, v := range geetestAnswer(m[1]) {
			resend[k] = v
		}
		again := b.Post(st.ServiceURL+"/login/code", resend).Last()
		second := core.Code(e164)
		if again.URL.Path != "/login/code" || again.Status != http.StatusOK || second == "" || second == first {
			t.Fatalf("%s: a new code: %s %d\n%s", c.lang, again.URL.Path, again.Status, excerpt(again.Body))
		}
		_, claims := rp.tokens(t, blinkCode(st, b, again, second))
		if id := core.Lookup(e164); id == "" || claims["sub"] != id || claims["phone_number"] != e164 {
			t.Errorf("%s: after a new code: core id %q, claims %v", c.lang, id, claims)
		}
	}
}

// Each refusal core can give on the phone form reads as its own message
// next to the field, in both languages, and none as "unavailable"; nothing
// is counted as sent.
func TestBlinkCoreRefusalsHaveTheirOwnMessages(t *testing.T) {
	st, core := blinkStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	for i, c := range []struct {
		fail   corestandin.Failure
		lang   string
		status int
		text   string
	}{
		{corestandin.FailProviderUnavailable, "en", http.StatusBadGateway, "The service that sends Blink's codes by SMS and WhatsApp cannot be reached right now."},
		{corestandin.FailProviderConnection, "es", http.StatusBadGateway, "El servicio que envía los códigos de Blink por SMS y WhatsApp no está disponible en este momento."},
		{corestandin.FailInvalidPhoneNumber, "en", http.StatusUnprocessableEntity, "This is not a valid phone number."},
		{corestandin.FailProviderNotMobile, "es", http.StatusUnprocessableEntity, "Este número no puede recibir mensajes. Usa un número de celular."},
		{corestandin.FailProviderUnsubscribed, "en", http.StatusUnprocessableEntity, "This number has asked not to receive messages"},
		{corestandin.FailProviderRestrictedRegion, "en", http.StatusUnprocessableEntity, "We cannot send codes to numbers of that country yet."},
		{corestandin.FailProviderMissingType, "es", http.StatusBadGateway, "Blink no pudo comprobar este número de teléfono en este momento."},
		{corestandin.FailCaptchaUnknown, "en", http.StatusUnprocessableEntity, "The check that you are not a robot could not be confirmed just now."},
	} {
		b := newBrowser(t)
		b.Lang = c.lang
		core.FailNext(c.fail)
		h := blinkPhoneCodePage(t, st, b, rp, fmt.Sprintf("7555 08%02d", i))
		if h.Status != c.status || !strings.Contains(html.UnescapeString(h.Body), c.text) || h.URL.Path != "/login/identify" {
			t.Errorf("%s: %d on %s, want %d with %q\n%s", c.fail.Body, h.Status, h.URL.Path, c.status, c.text, excerpt(h.Body))
		}
		if strings.Contains(h.Body, "Error\",") || strings.Contains(h.Body, "PhoneProvider") {
			t.Errorf("%s: core's name reached the page", c.fail.Body)
		}
		if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND sends = 0`, flowID(t, h)); n != 1 {
			t.Errorf("%s: a code core did not send was counted", c.fail.Body)
		}
	}

	// A new account refused for the network has its own page, with a way on.
	core.DenyOnboardingIP("198.51.200.9")
	b := newBrowser(t)
	b.IP, b.Lang = "198.51.200.9", "es"
	codePage := blinkPhoneCodePage(t, st, b, rp, "7555 0899")
	h := blinkCode(st, b, codePage, core.Code("+50375550899")).Last()
	if h.Status != http.StatusForbidden || !strings.Contains(h.Body, "No se pueden abrir cuentas de Blink desde esta red") || core.Lookup("+50375550899") != "" {
		t.Errorf("registration refused for the network: %d\n%s", h.Status, excerpt(h.Body))
	}

	// The provider failing at the code step: the code page says so, not "unavailable".
	b = newBrowser(t)
	codePage = blinkPhoneCodePage(t, st, b, rp, "7555 0898")
	core.FailNext(corestandin.FailLoginProviderUnreachable)
	h = blinkCode(st, b, codePage, core.Code("+50375550898")).Last()
	if h.Status != http.StatusBadGateway || h.URL.Path != "/login/code" || !strings.Contains(h.Body, "cannot be reached right now") {
		t.Errorf("provider down at the code step: %d on %s\n%s", h.Status, h.URL.Path, excerpt(h.Body))
	}
}

// With IDENTITY_SOURCE=blink our limits are off by default: a sixth code for
// one address in an hour goes through (ours used to stop the fifth), and the
// seventh meets core's limit, whose block the page tells in words.
func TestBlinkLimitsAreCoresOnly(t *testing.T) {
	st, core := blinkStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	email := "blink.six.codes@example.com"
	core.AddIdentity(email, "")
	ip := "198.51.201.7"
	for i := 1; i <= 6; i++ {
		b := newBrowser(t)
		b.IP = ip
		h := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}})
		if h.URL.Path != "/login/code" {
			t.Fatalf("code %d for one address from one IP refused: %d\n%s", i, h.Status, excerpt(h.Body))
		}
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE key = $1 OR key = $2`, email, ip); n != 0 {
		t.Errorf("%d rate events of ours recorded in blink mode", n)
	}
	for _, c := range []struct{ lang, text string }{
		{"en", "Please try again in about an hour."},
		{"es", "Inténtalo de nuevo en aproximadamente una hora."},
	} {
		b := newBrowser(t)
		b.IP, b.Lang = ip, c.lang
		h := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}})
		if h.Status != http.StatusTooManyRequests || !strings.Contains(h.Body, c.text) || h.Header.Get("Retry-After") != "3601" {
			t.Errorf("%s: core's limit: %d Retry-After %q\n%s", c.lang, h.Status, h.Header.Get("Retry-After"), excerpt(h.Body))
		}
	}

	// Core's failed-login limit per IP blocks 4 hours.
	b := newBrowser(t)
	codePage := blinkPhoneCodePage(t, st, b, rp, "7555 0901")
	limits := corestandin.DefaultLimits()
	limits.FailedLoginPerIP.Points = 0
	core.SetLimits(limits)
	defer core.SetLimits(corestandin.DefaultLimits())
	if h := blinkCode(st, b, codePage, core.Code("+50375550901")).Last(); !isTooMany(h) || !strings.Contains(h.Body, "about 4 hours") {
		t.Errorf("core's failed-login limit: %d\n%s", h.Status, excerpt(h.Body))
	}
}
